// Package syncs holds the Sync reconciler: for each Sync it takes the latest
// artifact of its source, renders it, applies it all or nothing, prunes what left Git,
// waits for health, and reports — conditions, history, events, metrics and a commit
// status on the revision. It watches the objects it applied, so drift is found as it
// happens, and keeps one apply Manager per Sync so that a reconcile with nothing new sends
// no request.
//
// It reaches Git hosts only through the small interfaces it declares (Artifacts,
// Reporter). It must not import webhook or fleet.
package syncs
