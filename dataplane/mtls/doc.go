// Package mtls is the AuthBridge sidecar's sidecar-to-sidecar mutual TLS with
// X.509-SVIDs, wire-compatible with upstream authbridge-proxy: TLS 1.3, HTTP/1.1 over
// TLS on an http:// URL, no ALPN, inbound plaintext and TLS on one port (permissive) or
// TLS only (strict), outbound TLS-or-fail with SNI = the dialed host.
//
// It closes upstream's gaps: the peer's SVID is verified against the current trust
// bundle at every handshake, including resumed ones (upstream fixed its client CAs at
// startup, so a rotated SPIRE CA was not trusted inbound until a restart); the peer's
// SPIFFE ID is authorized (trust-domain member and, when given, an allowlist) at the
// handshake (upstream checked no ID); the listener classifies connections in their own
// goroutines (upstream peeked inside Accept, so one silent client stalled every other
// for 5 s); the client resumes TLS sessions (upstream did a full handshake per
// connection); and every outcome is counted in Prometheus.
//
// Outbound is strict only, as upstream's: a permissive sidecar dials plaintext (it does
// not use Dialer), so a permissive caller cannot reach a strict callee. The listener
// completes the TLS handshake itself, bounded, before Accept returns the connection, so
// that failures are counted and an unverified peer never reaches the HTTP server.
//
// It owns the TLS configurations, the dialer, the sniffing listener and their metrics;
// it knows no HTTP handler, pipeline or plugin. It must not import renderers, sources,
// engine, webhook, controller-runtime, client-go, go-git or kustomize: the sidecar links
// no controller, renderer or Git code.
package mtls
