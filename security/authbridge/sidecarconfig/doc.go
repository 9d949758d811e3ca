// Package sidecarconfig owns the AuthBridge sidecar's configuration as the sidecar reads
// it: config.yaml (mode, listeners, the inbound and outbound plugin pipelines, session,
// stats, mTLS, SPIFFE, the TLS bridge) and the token-exchange routes file routes.yaml.
// Load parses a document with the sidecar's environment expansion, Validate applies the
// sidecar's rules and defaults and returns the Resolved configuration, LoadRoutes parses
// and checks a routes file. The renderer validates every config.yaml it generates with
// it, `trustsync authbridge check` prints what it resolves to, and the in-tree data plane
// is to run what it returns: one reading for all three.
//
// It is wire-compatible with upstream AuthBridge's schema and refuses more (see
// docs/authbridge.md). It reads no file and no network, and must not import renderers,
// engine, webhook, sources or controller-runtime.
package sidecarconfig
