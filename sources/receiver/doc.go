// Package receiver verifies push webhooks from Git hosts (GitHub, GitLab, Gitea, or a
// generic HMAC sender) on one HTTP listener, at /hook/<namespace>/<name>, and triggers
// an immediate fetch of that GitSource.
//
// It owns the request checks (method, size, signature or token, event type); what a
// trigger does is the caller's. Secrets and signatures are compared in constant time and
// never logged or echoed.
//
// It must not import engine, renderers, webhook or fleet.
package receiver
