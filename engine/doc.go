// Package engine owns the reconciliation of Syncs: it plans desired objects against an
// informer cache and the Sync's inventory, applies changes by server-side apply in
// stages, prunes what left Git, assesses health with kstatus, detects and corrects drift,
// and writes conditions, events and metrics.
//
// It uses renderers and security; Git hosts only through the small interfaces it
// declares, implemented by the process's assembly with sources. It must not import
// sources/status, sources/receiver, webhook or fleet.
package engine
