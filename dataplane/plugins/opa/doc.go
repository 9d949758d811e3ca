// Package opa owns the AuthBridge sidecar's opa plugin: at each of the four decision
// points (inbound and outbound, request and response) it builds the AuthBridge input
// document from what the other plugins know of the request (the identity, the token
// exchanges, the parsers' A2A, MCP and inference calls, the peer sidecar's SPIFFE ID)
// and asks the workload's policy bundle for a decision: 403 policy.forbidden with the
// policy's reason on a deny, 503 upstream.unreachable until a bundle is active.
//
// The input document has upstream's fields and shapes (kagenti-facts §2; the optional
// parts behind config include) and trustsync's own peer {spiffe_id}, the same document
// security/policy's previews and `trustsync policy eval` build.
//
// Streams: the response point is decided once on the status and headers, before the
// first event. An event is decided again only when it can change what the input
// document shows: with include mcp.result or mcp.error, an event that carries a
// JSON-RPC result or error; with a2a.content, a status, artifact or message event; with
// inference.completion or inference.tool_calls, a chunk with content or tool calls.
// Without such an include, no event changes the input and none is evaluated. (An event
// with a \u escape is always evaluated: its keys could be spelt that way.)
//
// It keeps no decision log on the request path: each decision is counted and timed in
// Prometheus metrics only.
//
// The bundle client (dataplane/bundles) is a Decider; this package declares the
// interface and imports neither it nor the listeners. It must not import
// controller-runtime, client-go, renderers, sources, engine, webhook, go-git or
// kustomize.
package opa
