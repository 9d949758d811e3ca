// Package parsers owns the AuthBridge sidecar's three body parsers: a2a-parser,
// mcp-parser and inference-parser. Each reads what a request says (its buffered
// body, and for MCP the body-less transport requests), then what its response says
// (the buffered body, or each SSE event of a streamed one), into the request model's
// A2A, MCP and Inference fields, wire-compatible with upstream AuthBridge's parsers.
//
// A parser never denies: what it cannot parse it leaves nil, and deciding is the
// policy plugin's job. Input is hostile: bodies are bounded by the listener (1 MiB),
// and the values kept as JSON (MCP params and results, tool parameters) are decoded
// only up to a nesting depth; text gathered across SSE events is capped.
//
// It must not import controller-runtime, client-go, renderers, sources, engine,
// webhook, go-git or kustomize: it reads bytes into the pipeline's types, nothing more.
package parsers
