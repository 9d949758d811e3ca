// Package health assesses applied objects with kstatus (fluxcd/cli-utils): Current,
// InProgress, Failed, and waits, with a timeout, until every object is Current or one
// has Failed. It reads the informer cache only.
//
// It must not import sources, renderers, webhook or fleet.
package health
