// Package spire reads SPIRE as a cluster shows it: whether it runs (its CSI driver
// csi.spiffe.io, through which pods mount the Workload API socket), and the trust bundle
// it publishes in the ConfigMap spire-bundle (key bundle.spiffe). The pure identity rules
// (SPIFFE IDs, bundle parsing) are security/identity's, which links no client.
//
// It must not import engine, webhook, renderers or sources.
package spire
