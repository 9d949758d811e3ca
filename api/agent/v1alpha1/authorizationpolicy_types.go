package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyScope is the tier an AuthorizationPolicy belongs to.
// +kubebuilder:validation:Enum=global;namespace;client
type PolicyScope string

const (
	// ScopeGlobal policies apply to every identity. They are honoured only in the
	// platform namespace.
	ScopeGlobal PolicyScope = "global"
	// ScopeNamespace policies apply to every identity in their namespace.
	ScopeNamespace PolicyScope = "namespace"
	// ScopeClient policies apply to one identity: the ServiceAccount whose name equals the
	// policy's metadata.name, in the policy's namespace.
	ScopeClient PolicyScope = "client"
)

// PolicyScopes lists the valid PolicyScope values.
var PolicyScopes = []PolicyScope{ScopeGlobal, ScopeNamespace, ScopeClient}

// RegoPolicy is one Rego file of an AuthorizationPolicy.
type RegoPolicy struct {
	// Path names the decision point the file covers, e.g. inbound/request.rego. No
	// segment may be empty or start with "." (so none is "." or ".."): bundles are laid
	// out by path. The reference's pattern is ^[a-z0-9][a-z0-9/_.-]*\.rego$.
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9_.-]*(/[a-z0-9_-][a-z0-9_.-]*)*\.rego$`
	Path string `json:"path"`
	// Content is the Rego source.
	// +kubebuilder:validation:MinLength=1
	Content string `json:"content"`
}

// AuthorizationPolicySpec holds Rego policies of one tier.
type AuthorizationPolicySpec struct {
	// Scope of the policy.
	// +kubebuilder:default=client
	// +optional
	Scope PolicyScope `json:"scope,omitempty"`

	// ClientID is informational: the client tier is matched by metadata.name.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// Policies are the Rego files of this tier.
	// +kubebuilder:validation:MinItems=1
	Policies []RegoPolicy `json:"policies"`
}

// AuthorizationPolicyStatus is the observed state of an AuthorizationPolicy.
type AuthorizationPolicyStatus struct {
	// BundleHash is the content hash of the policy as last built into bundles.
	// +optional
	BundleHash string `json:"bundleHash,omitempty"`
	// LastBuilt is when the policy was last built into bundles.
	// +optional
	LastBuilt *metav1.Time `json:"lastBuilt,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (reasons CompileFailed, TestFailed).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ap
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.scope`
// +kubebuilder:printcolumn:name="ClientID",type=string,JSONPath=`.spec.clientID`
// +kubebuilder:printcolumn:name="Hash",type=string,JSONPath=`.status.bundleHash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AuthorizationPolicy holds the OPA Rego policies of one tier (global, namespace or client)
// that the AuthBridge sidecar enforces at its four decision points.
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AuthorizationPolicySpec   `json:"spec,omitempty"`
	Status AuthorizationPolicyStatus `json:"status,omitempty"`
}

// EffectiveScope is the scope with the API default applied.
func (p *AuthorizationPolicy) EffectiveScope() PolicyScope {
	if p.Spec.Scope == "" {
		return ScopeClient
	}
	return p.Spec.Scope
}

// +kubebuilder:object:root=true

// AuthorizationPolicyList is a list of AuthorizationPolicies.
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AuthorizationPolicy{}, &AuthorizationPolicyList{})
}
