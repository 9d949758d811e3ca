// Package access works out who may call whom in a revision, and what a change does to
// it: for every caller → callee pair of agents and tools, the inbound/request decision of
// the callee's bundle and the outbound/request decision of the caller's, with a
// representative request, through the same decision library the bundle server's bundles
// are built with. Between two revisions only pairs whose inputs changed are evaluated.
// Each change says in words what it allows or forbids, and names the policy files that
// caused it.
//
// It must not import engine, webhook or sources.
package access
