// Package install is trustsync's own installation: the manifests rendered from the
// embedded config/ bases for a choice of components, applied in stages by server-side
// apply and waited for, checked against a cluster before and after, and removed again.
//
// It renders with the same kustomize renderer Syncs use, offline, from the binary
// alone; what it applies is labelled with its owner so uninstall removes only that.
package install
