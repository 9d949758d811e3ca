// Package authbridge owns what the AuthBridge sidecar reads: the resolution of an agent's
// data-plane settings (mode, mTLS, TLS bridge, egress enforcement) from its AgentRuntime,
// its namespace's defaults and the platform; the port plan (which port the sidecar takes
// over and where the agent moves); and the configuration documents — the namespace
// authbridge-runtime-config and authbridge-config, the per-agent
// authbridge-config-<workload> and an Envoy sidecar's envoy-config-<workload>,
// spiffe-helper's helper.conf and the feature gates — and which of a pod's own volumes
// the sidecars may use.
//
// The renderer writes these documents from Git; the webhook uses the same port plan and
// names when it rewrites the pod, so both always agree. It must not import engine, webhook,
// renderers or sources.
package authbridge
