// Package apply converges a cluster on a set of desired objects for one owner (a Sync):
// it plans against the informer cache and what it last applied, server-side dry-runs
// every object it is about to write (all or nothing), applies in stages (CRDs,
// Namespaces and other cluster-scoped objects first), detects drift, and prunes objects
// that left the desired set.
//
// The plan sends no request for an object whose desired state has not changed since the
// last apply and whose live copy has not changed either: after each apply the package
// records the object's resourceVersion and the fields the field manager owns. A live
// change by someone else moves the ownership of the fields they changed to them, so the
// fields the manager lost are exactly the drift, computed from the cache alone.
//
// It must not import sources, webhook, fleet or renderers.
package apply
