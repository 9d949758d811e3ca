// Package identity owns workload identity: the SPIFFE ID of an agent,
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, derived from the
// ServiceAccount its pods run as, and parsing of the forms that appear on the wire (with
// and without the spiffe:// scheme); the names SPIRE uses in a cluster (its CSI driver,
// the trust bundle ConfigMap) and the parsing of its trust bundle. Reading them from a
// cluster is security/spire's.
//
// It is part of the rules layer: it must not import anything of trustsync but api, and
// links no Kubernetes client.
package identity
