// Package bundleserver assembles `trustsync bundle-server`: a cache that watches
// AuthorizationPolicies only, the index and mutual-TLS bundle server of
// security/policy/bundleserver on its port, and the plain-HTTP probe and metrics port.
package bundleserver
