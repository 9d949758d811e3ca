// Package webhook owns admission: the mutating webhook that injects the AuthBridge
// sidecar set into agent pods according to their AgentRuntime and the platform, and the
// validating webhooks for AgentRuntime and AuthorizationPolicy. It shares the port plan
// and configuration documents of security/authbridge with the renderer, so a rendered
// workload and its admitted pods always agree.
//
// It must not import engine, fleet or sources.
package webhook
