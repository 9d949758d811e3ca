// Package authbridge assembles `trustsync authbridge`, the AuthBridge proxy sidecar: it
// reads config.yaml (and routes.yaml) with security/authbridge/sidecarconfig, gets the
// pod's SVIDs from the SPIFFE Workload API, builds the inbound and outbound pipelines of
// dataplane/plugins, one policy bundle client (dataplane/bundles) for the opa plugins,
// and serves the listeners of dataplane/proxy — reverse (mutual TLS from dataplane/mtls
// when configured), forward and transparent — with the health, stats and metrics
// servers, the JSON access log and hot reload of the pipelines.
//
// Only cmd/trustsync imports it. It links no controller, renderer or Git code.
package authbridge
