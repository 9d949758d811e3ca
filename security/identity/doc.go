// Package identity owns workload identity: the SPIFFE ID of an agent,
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, derived from the
// ServiceAccount its pods run as, and parsing of the forms that appear on the wire (with
// and without the spiffe:// scheme); and the detection of SPIRE in a cluster — its CSI
// driver csi.spiffe.io, and the trust bundle it publishes in ConfigMap spire-bundle (key
// bundle.spiffe).
//
// It must not import engine, webhook, renderers or sources.
package identity
