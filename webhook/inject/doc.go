// Package inject is the mutating admission webhook that adds the AuthBridge sidecar set
// to agent pods. It decides from the pod's AgentRuntime, the namespace defaults, the live
// feature gates and whether SPIRE is installed; security/authbridge works out what to
// inject, so rendered workloads and admitted pods agree. The answer is a minimal JSON
// patch recorded while the pod is mutated, never a diff of two serialisations.
//
// It must not import engine, fleet or sources.
package inject
