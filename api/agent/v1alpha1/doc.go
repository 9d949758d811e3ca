// Package v1alpha1 holds the Go types of the agent.kagenti.dev/v1alpha1 API: AgentRuntime,
// AuthorizationPolicy and AgentCard, wire-compatible with the Kagenti operator so that its
// users can point trustsync at their existing repositories. It also names the labels,
// annotations and ConfigMaps of that system's wire protocol, so every other package spells
// them one way.
//
// It owns types, validation markers and well-known names only. It must not import anything
// from trustsync outside api/.
//
// +kubebuilder:object:generate=true
// +groupName=agent.kagenti.dev
package v1alpha1
