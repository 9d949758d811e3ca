// Package sidecartest is what the AuthBridge sidecar's end-to-end test and its
// benchmark (bench/p9-sidecar) share: agent clients registered in the Keycloak
// stand-in the way trustsync's registrar does, one agent's sidecar files (client ID,
// secret, routes) and its config.yaml.
//
// It is test support: production code must not import it.
package sidecartest
