// Package receiver verifies push webhooks from Git hosts (GitHub, GitLab, Gitea, or a
// generic HMAC sender) on one HTTP listener, at /hook/<namespace>/<name>, and triggers
// an immediate fetch of that GitSource.
//
// It owns the request checks (method, size, signature or token, event type) and what
// bounds a stranger: a body limit enforced before and while reading, the body streamed
// through the HMAC and never held, a cap on requests in flight that displaces slow
// bodies rather than queueing, one answer for every unauthenticated request, replays
// dropped by delivery ID, and fetches coalesced and limited per source. What a trigger
// does, and where the secrets come from, is the caller's. Secrets and signatures are
// compared in constant time and never logged or echoed.
//
// It must not import engine, renderers, webhook or fleet.
package receiver
