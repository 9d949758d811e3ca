// Package jwtvalidation is the AuthBridge sidecar's jwt-validation plugin: it
// authenticates inbound requests by their bearer token, wire-compatible with upstream
// AuthBridge's plugin of the same name. It owns the token check (signature against the
// issuer's JWKS, exact issuer, expiry, audience any-of), the JWKS cache, the cache of
// verified tokens, the bypass paths and the identity it sets on the request.
//
// What it does beyond upstream, on purpose:
//   - an unknown kid refetches the JWKS (at most once per 10 s; concurrent requests share
//     one fetch), and the JWKS is refreshed every 15 minutes in the background;
//   - a verified token is cached by its SHA-256 until its exp, so a repeated token costs
//     no signature check. A key rotated out of the JWKS therefore keeps admitting the
//     tokens it signed that are cached, until they expire — as it would for any
//     verifier: a rotation does not revoke issued tokens;
//   - exp is required, and exp, nbf and iat are checked with Leeway (30 s) of clock skew
//     (upstream allows none);
//   - a 401 carries an RFC 6750 WWW-Authenticate challenge.
//
// placeholder_mode (upstream's abph_ handles) is refused by New: this data plane
// forwards the token itself, and nothing here resolves handles.
//
// It must not import controller-runtime, client-go, renderers, sources, engine,
// webhook, go-git or kustomize: the sidecar links none of them.
package jwtvalidation
