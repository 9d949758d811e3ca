// Package egress is the HTTP client of the plugins' own calls (the JWKS, the token
// endpoints): no proxy, bounded dials and handshakes, no redirects. It imports nothing
// of trustsync.
package egress
