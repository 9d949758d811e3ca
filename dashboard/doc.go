// Package dashboard serves the sync dashboard: every Sync and its state, drift field by
// field, the agents and their identities, the policies, who may call whom on the applied
// revisions, and the fleet's member Clusters with each fleet Sync's result on them. Pages
// are rendered on the server from informer caches and kept live with one server-sent-event
// stream per tab; lists are filtered and paged on the server. It reads the cluster and
// writes nothing.
//
// It must not import engine, fleet, sources, webhook or dataplane: it reads their API
// objects, not their code.
package dashboard
