// Package engine owns the reconciliation of Syncs: it plans desired objects against an
// informer cache and the Sync's inventory, applies changes by server-side apply in
// stages, prunes what left Git, assesses health with kstatus, detects and corrects drift,
// and writes conditions, events and metrics.
//
// It uses sources (artifacts, commit statuses), renderers and security. It must not know
// a Git host's API beyond the small interfaces it declares, and must not import webhook
// or fleet.
package engine
