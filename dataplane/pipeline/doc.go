// Package pipeline is the AuthBridge sidecar's request model and plugin runner: what a
// plugin sees of one request (Request), the capabilities a plugin may have (request,
// response and SSE-frame handlers, readiness, body reading, background work), one
// direction's pipeline run in the configured order with each entry's on_error, and a
// denial rendered in upstream AuthBridge's wire shapes (the JSON error body, and the
// JSON-RPC error −32000 at HTTP 200 for an outbound MCP request).
//
// It knows no listener and no plugin: listeners (dataplane/proxy) build Requests and
// run Pipelines; plugins (dataplane/plugins/...) implement the interfaces here.
package pipeline
