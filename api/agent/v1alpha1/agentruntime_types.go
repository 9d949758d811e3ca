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

// PluginPreset names a composition of the AuthBridge plugin pipeline.
// +kubebuilder:validation:Enum=auth-only;ibac-only;full
type PluginPreset string

const (
	// PluginPresetAuthOnly runs jwt-validation inbound and token-exchange outbound.
	PluginPresetAuthOnly PluginPreset = "auth-only"
	// PluginPresetIBACOnly runs the parsers and ibac (intent-based access control).
	PluginPresetIBACOnly PluginPreset = "ibac-only"
	// PluginPresetFull runs every preset plugin but token-broker.
	PluginPresetFull PluginPreset = "full"
)

// PluginPresets lists the valid PluginPreset values.
var PluginPresets = []PluginPreset{PluginPresetAuthOnly, PluginPresetIBACOnly, PluginPresetFull}

// PluginPolicy is what a plugin's denials do: enforce them, only record them (observe),
// or leave the plugin out (off). It is the on_error of the plugin's pipeline entry.
// +kubebuilder:validation:Enum=enforce;observe;off
type PluginPolicy string

const (
	PluginPolicyEnforce PluginPolicy = "enforce"
	PluginPolicyObserve PluginPolicy = "observe"
	PluginPolicyOff     PluginPolicy = "off"
)

// PluginPolicies lists the valid PluginPolicy values.
var PluginPolicies = []PluginPolicy{PluginPolicyEnforce, PluginPolicyObserve, PluginPolicyOff}

// PresetPlugins are the plugins a preset composes, and spec.plugins may name, in
// upstream's fixed order: inbound first, then outbound.
var (
	PresetInboundPlugins  = []string{"a2a-parser", "jwt-validation"}
	PresetOutboundPlugins = []string{"token-exchange", "token-broker", "inference-parser", "mcp-parser", "ibac"}
)

// AgentAuth configures how the agent authenticates its calls.
type AgentAuth struct {
	// Outbound are the token-exchange routes of the agent's calls: which audience to
	// ask for when calling a destination. The first route whose destination matches wins.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Outbound []OutboundRoute `json:"outbound,omitempty"`
}

// OutboundRoute exchanges the agent's token for one with the audiences when it calls
// the destination.
type OutboundRoute struct {
	// Destination is the host the route is for.
	Destination RouteDestination `json:"destination"`
	// Audiences to request, typically the destination's SPIFFE ID. The sidecar's routes
	// carry one audience per route, so trustsync refuses more than one.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=2048
	Audiences []string `json:"audiences"`
}

// RouteDestination matches the host of an outbound call (without its port), by one of
// host and hostRegex.
// +kubebuilder:validation:XValidation:rule="has(self.host) != has(self.hostRegex)",message="a destination has exactly one of host and hostRegex"
type RouteDestination struct {
	// Host is a host name or a glob over the host's `.`-separated labels, as the
	// sidecar's routes are: `*` stays within a label, `**` crosses labels.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Host string `json:"host,omitempty"`
	// HostRegex is a regular expression the whole host must match. trustsync writes it
	// as the equivalent host glob, and refuses one that has none.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	HostRegex string `json:"hostRegex,omitempty"`
}

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
// +kubebuilder:validation:XValidation:rule="has(self.pluginPreset) || (!has(self.plugins) && !has(self.onError))",message="plugins and onError take effect only with a pluginPreset (upstream ignores them without one): set pluginPreset, or remove them"
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

	// Auth configures how the agent authenticates its calls.
	// +optional
	Auth *AgentAuth `json:"auth,omitempty"`

	// PluginPreset composes the agent's AuthBridge plugin pipeline: every preset plugin,
	// in a fixed order, those outside the preset off. auth-only: jwt-validation,
	// token-exchange; ibac-only: a2a-parser, inference-parser, mcp-parser, ibac; full: all
	// of them. Unset keeps the namespace's pipeline.
	// +optional
	PluginPreset PluginPreset `json:"pluginPreset,omitempty"`

	// Plugins override the preset's policy per plugin, as NAME or NAME:POLICY (POLICY
	// enforce, observe or off; a bare NAME is enforce), one entry per plugin. NAME is one
	// of a2a-parser, jwt-validation, token-exchange, token-broker, inference-parser,
	// mcp-parser, ibac.
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^(a2a-parser|jwt-validation|token-exchange|token-broker|inference-parser|mcp-parser|ibac)(:(enforce|observe|off))?$`
	// +optional
	Plugins []string `json:"plugins,omitempty"`

	// OnError is the policy of the preset's plugins that spec.plugins does not name;
	// enforce when unset.
	// +optional
	OnError PluginPolicy `json:"onError,omitempty"`
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
