// Package mesh owns the run-time part of Istio's shared trust: the cacerts Secret istiod
// reads as its plug-in CA, built from the Secrets cert-manager issues for the mesh root
// (istio-mesh-root-ca-secret in cert-manager) and for each intermediate
// (istio-cacerts-default-cert in istio-system, istio-cacerts-og-cert in
// openshift-ingress). Git cannot know these certificates, so they are reconciled here
// and not rendered.
//
// The Reconciler verifies that each intermediate belongs to the current root
// (fingerprint of ca.crt, chain, key) before it writes anything; a mismatched
// intermediate is reported with a Warning event and deleted so that cert-manager issues
// it again. When cacerts changes, it rolls istiod and ztunnel onto it and deletes the
// stale istio-ca-root-cert ConfigMaps. A reconcile with nothing changed writes nothing.
//
// It watches only the Secrets it names, each through an informer field-selected on that
// one name and holding metadata only, so this process never caches other Secrets nor
// any key material; decisions read the Secrets live. Nothing here logs or reports key
// material: errors and events name Secrets, keys and certificate fingerprints.
//
// The Kuadrant CR is not reconciled here: renderers/secureprofile renders it from the
// platform's kuadrant.enabled and the engine applies and drift-corrects it.
//
// It must not import engine, webhook, fleet, sources or renderers.
package mesh
