// Package views turns API objects into what the dashboard's pages show: pure functions of
// the objects they are given and the query, with no cluster access. A Sync's state, its
// inventory as a tree, drift field by field, links to the Git host, the agents, the
// policies, the access matrix, and the member Clusters with the fleet Syncs' results on
// them are decided here.
//
// It must not import engine, webhook or sources.
package views
