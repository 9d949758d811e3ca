// Package identity owns workload identity: the SPIFFE ID of an agent,
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, derived from the
// ServiceAccount its pods run as, and parsing of the forms that appear on the wire (with
// and without the spiffe:// scheme).
//
// It must not import engine, webhook, renderers or sources.
package identity
