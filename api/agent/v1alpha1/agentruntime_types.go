package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentType says whether a workload is an agent or a tool.
// +kubebuilder:validation:Enum=agent;tool
type AgentType string

const (
	AgentTypeAgent AgentType = "agent"
	AgentTypeTool  AgentType = "tool"
)

// AuthBridgeMode selects the AuthBridge data plane injected into the agent's pods.
// +kubebuilder:validation:Enum=proxy-sidecar;envoy-sidecar;lite;waypoint
type AuthBridgeMode string

const (
	// AuthBridgeProxySidecar injects one authbridge-proxy container that takes over the
	// agent's port and proxies its egress through HTTP_PROXY. It is the default.
	AuthBridgeProxySidecar AuthBridgeMode = "proxy-sidecar"
	// AuthBridgeEnvoySidecar injects an Envoy proxy with transparent iptables redirection.
	AuthBridgeEnvoySidecar AuthBridgeMode = "envoy-sidecar"
	// AuthBridgeLite is proxy-sidecar with the lite image (JWT validation and token exchange only).
	AuthBridgeLite AuthBridgeMode = "lite"
	// AuthBridgeWaypoint injects nothing; a standalone waypoint enforces for Istio ambient.
	AuthBridgeWaypoint AuthBridgeMode = "waypoint"
)

// AuthBridgeModes lists the valid AuthBridgeMode values in documentation order.
var AuthBridgeModes = []AuthBridgeMode{AuthBridgeProxySidecar, AuthBridgeEnvoySidecar, AuthBridgeLite, AuthBridgeWaypoint}

// MTLSMode selects application-level mTLS between AuthBridge sidecars.
// +kubebuilder:validation:Enum=disabled;permissive;strict
type MTLSMode string

const (
	MTLSDisabled   MTLSMode = "disabled"
	MTLSPermissive MTLSMode = "permissive"
	MTLSStrict     MTLSMode = "strict"
)

// MTLSModes lists the valid MTLSMode values.
var MTLSModes = []MTLSMode{MTLSDisabled, MTLSPermissive, MTLSStrict}

// TLSBridgeMode turns on decryption of the agent's outbound HTTPS in the forward proxy.
// +kubebuilder:validation:Enum=disabled;enabled
type TLSBridgeMode string

const (
	TLSBridgeDisabled TLSBridgeMode = "disabled"
	TLSBridgeEnabled  TLSBridgeMode = "enabled"
)

// TLSBridgeModes lists the valid TLSBridgeMode values.
var TLSBridgeModes = []TLSBridgeMode{TLSBridgeDisabled, TLSBridgeEnabled}

// EgressEnforcement selects how egress that bypasses HTTP_PROXY is handled.
// +kubebuilder:validation:Enum=enforce-redirect;none
type EgressEnforcement string

const (
	// EgressEnforceRedirect injects proxy-init, which redirects egress that bypasses the
	// proxy to AuthBridge's transparent listener and drops other external egress.
	EgressEnforceRedirect EgressEnforcement = "enforce-redirect"
	// EgressNone relies on the application honouring HTTP_PROXY (no iptables).
	EgressNone EgressEnforcement = "none"
)

// EgressEnforcements lists the valid EgressEnforcement values.
var EgressEnforcements = []EgressEnforcement{EgressEnforceRedirect, EgressNone}

// TargetRef points at the workload an AgentRuntime configures, by duck type.
type TargetRef struct {
	// APIVersion of the workload, e.g. apps/v1.
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// Kind of the workload: Deployment, StatefulSet or Sandbox.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// Name of the workload in the AgentRuntime's namespace.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// SPIFFEIdentity configures the SPIFFE identity of the agent.
type SPIFFEIdentity struct {
	// TrustDomain overrides the platform trust domain for this agent.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.\-_]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`
}

// AgentIdentity configures how the agent is identified.
type AgentIdentity struct {
	// SPIFFE identity settings.
	// +optional
	SPIFFE *SPIFFEIdentity `json:"spiffe,omitempty"`
	// AllowedAudiences are extra JWT audiences the agent accepts on inbound calls. An
	// empty one would match tokens without an audience.
	// +kubebuilder:validation:items:MinLength=1
	// +optional
	AllowedAudiences []string `json:"allowedAudiences,omitempty"`
}

// AgentRuntimeSpec declares a workload to be an agent or tool and how it is secured.
// +kubebuilder:validation:XValidation:rule="!has(self.tlsBridgeMode) || self.tlsBridgeMode != 'enabled' || !has(self.authBridgeMode) || self.authBridgeMode in ['proxy-sidecar', 'lite']",message="tlsBridgeMode enabled requires authBridgeMode proxy-sidecar or lite"
type AgentRuntimeSpec struct {
	// Type of the workload.
	Type AgentType `json:"type"`

	// TargetRef is the workload this AgentRuntime configures.
	TargetRef TargetRef `json:"targetRef"`

	// Identity of the agent.
	// +optional
	Identity *AgentIdentity `json:"identity,omitempty"`

	// AuthBridgeMode selects the injected data plane. Unset means the namespace default
	// (authbridge-runtime-config key mode), else proxy-sidecar.
	// +optional
	AuthBridgeMode AuthBridgeMode `json:"authBridgeMode,omitempty"`

	// MTLSMode selects application-level mTLS between sidecars.
	// +kubebuilder:default=permissive
	// +optional
	MTLSMode MTLSMode `json:"mtlsMode,omitempty"`

	// TLSBridgeMode lets the forward proxy inspect the agent's outbound HTTPS.
	// Only with proxy-sidecar and lite.
	// +kubebuilder:default=disabled
	// +optional
	TLSBridgeMode TLSBridgeMode `json:"tlsBridgeMode,omitempty"`

	// EgressEnforcement selects how egress that bypasses the proxy is handled. Unset means
	// the namespace default, else enforce-redirect.
	// +optional
	EgressEnforcement EgressEnforcement `json:"egressEnforcement,omitempty"`
}

// AgentRuntimeStatus is the observed state of an AgentRuntime.
type AgentRuntimeStatus struct {
	// ObservedGeneration is the generation last processed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ConfiguredPods counts the pods running with the current configuration.
	// +optional
	ConfiguredPods int32 `json:"configuredPods,omitempty"`
	// Card is the agent's A2A card as last fetched.
	// +optional
	Card *AgentRuntimeCard `json:"card,omitempty"`
	// LinkedSkills come from the workload annotation kagenti.io/skills.
	// +optional
	LinkedSkills []string `json:"linkedSkills,omitempty"`
	// Conditions: TargetResolved, ConfigResolved, IstioMeshEnrolled, MTLSReady, Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AgentRuntimeCard is the agent card with what was learned while fetching it.
type AgentRuntimeCard struct {
	AgentCardData `json:",inline"`
	// +optional
	LastCardFetchTime *metav1.Time `json:"lastCardFetchTime,omitempty"`
	// +optional
	CardHash string `json:"cardHash,omitempty"`
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// TransportSecurity is mtls or http.
	// +optional
	TransportSecurity string `json:"transportSecurity,omitempty"`
	// +optional
	ValidSignature *bool `json:"validSignature,omitempty"`
	// +optional
	SignatureKeyID string `json:"signatureKeyID,omitempty"`
	// +optional
	SignatureVerificationDetails string `json:"signatureVerificationDetails,omitempty"`
	// +optional
	AttestedAgentSpiffeID string `json:"attestedAgentSpiffeID,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=art;agentrt
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AgentRuntime marks a workload as an agent or tool and configures its secure profile.
type AgentRuntime struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AgentRuntimeSpec   `json:"spec,omitempty"`
	Status AgentRuntimeStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AgentRuntimeList is a list of AgentRuntimes.
type AgentRuntimeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentRuntime `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AgentRuntime{}, &AgentRuntimeList{})
}
