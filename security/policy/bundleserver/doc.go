// Package bundleserver serves one OPA bundle per SPIFFE identity, in the reference
// bundle-service API (GET /bundles?spiffe=<td>/ns/<ns>/sa/<sa>, ETag and If-None-Match,
// 400/403/413/503), with what that service lacks: callers are authenticated by mutual
// TLS with their X.509-SVID and get only their own identity's bundle; a bundle is
// rebuilt only when a tier it is made of changed (global, its namespace, its client
// policy); concurrent requests for one identity share one build, and builds are bounded;
// a policy change that does not compile never replaces a working bundle.
//
// The index is fed from the cluster by Watch. The package must not import engine,
// webhook, renderers or sources.
package bundleserver
