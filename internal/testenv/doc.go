// Package testenv runs a real control plane (etcd + kube-apiserver through envtest) for
// the tests of one package, with trustsync's CRDs and minimal CRDs of the third-party
// kinds the secure profile renders (SPIRE, cert-manager, Kuadrant, agent-sandbox).
//
// The binaries come from hack/envtest-assets.sh (make tools); they are looked up in
// KUBEBUILDER_ASSETS, else in ~/.cache/trustsync/envtest. Missing binaries fail the
// tests with instructions: a test that needs a real API server never skips silently.
package testenv
