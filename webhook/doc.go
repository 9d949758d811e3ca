// Package webhook owns admission: the mutating webhook that injects the AuthBridge
// sidecar set into agent pods according to their AgentRuntime and the platform, and the
// validating webhooks for AgentRuntime and AuthorizationPolicy. It shares the port plan
// and configuration documents of security/authbridge with the renderer, so a rendered
// workload and its admitted pods always agree. Each webhook refuses requests its
// configuration never sends and runs a bounded number at once, each answered in time
// (admission.go); they are served on trustsync's own server limits (server.go).
//
// It must not import engine, fleet or sources.
package webhook
