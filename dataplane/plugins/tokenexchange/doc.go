// Package tokenexchange is the AuthBridge sidecar's token-exchange plugin: on outbound
// requests it trades the agent's bearer token for one addressed to the destination
// (RFC 8693), per route, wire-compatible with upstream AuthBridge's plugin of the same
// name: the same routes (routes.yaml, then the inline rules; `.`-separated host globs;
// first match wins), the same form and client authentication in the body
// (client-secret, or a JWT-SVID as client assertion), the same denials.
//
// It owns the routes, the exchange client, the cache of exchanged tokens, the delegation
// record and the outbound identity it sets on the request. What it does beyond upstream,
// on purpose: the cache key includes the scopes and the token endpoint (upstream's
// forgets them, so two routes of one audience shared a token); concurrent misses of one
// key make one exchange; the JWT-SVID is reused until 80 % of its lifetime (upstream
// fetches one per exchange); client_credentials tokens are cached too.
//
// audience_from_host and resolve_placeholders are refused by New: this data plane has
// neither upstream's placeholder handles nor its host-derived audiences.
//
// It must not import controller-runtime, client-go, renderers, sources, engine,
// webhook, go-git or kustomize: the sidecar links none of them.
package tokenexchange
