// Package v1alpha1 holds trustsync's own API, gitops.trustsync.dev/v1alpha1: GitSource (where
// a revision comes from), Sync (what of it is applied and how), and Platform, the engine's
// configuration file (trust domain, Keycloak, feature gates, images).
//
// Like Flux, the source and the apply are separate kinds so that many Syncs can share one
// clone. This package owns types, defaults and validation only; it must not import anything
// from trustsync outside api/.
//
// +kubebuilder:object:generate=true
// +groupName=gitops.trustsync.dev
package v1alpha1
