package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentCardData is an A2A agent card.
type AgentCardData struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	// +optional
	Capabilities *AgentCapabilities `json:"capabilities,omitempty"`
	// +optional
	DefaultInputModes []string `json:"defaultInputModes,omitempty"`
	// +optional
	DefaultOutputModes []string `json:"defaultOutputModes,omitempty"`
	// +optional
	Skills []AgentSkill `json:"skills,omitempty"`
	// +optional
	SupportsAuthenticatedExtendedCard *bool `json:"supportsAuthenticatedExtendedCard,omitempty"`
	// Signatures are detached JWS signatures over the canonical card (A2A §8.4.2).
	// +optional
	Signatures []AgentCardSignature `json:"signatures,omitempty"`
}

// AgentCapabilities are the optional A2A features an agent supports.
type AgentCapabilities struct {
	// +optional
	Streaming *bool `json:"streaming,omitempty"`
	// +optional
	PushNotifications *bool `json:"pushNotifications,omitempty"`
	// +optional
	StateTransitionHistory *bool `json:"stateTransitionHistory,omitempty"`
}

// AgentSkill is one skill an agent offers.
type AgentSkill struct {
	// +optional
	ID string `json:"id,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// +optional
	Tags []string `json:"tags,omitempty"`
	// +optional
	Examples []string `json:"examples,omitempty"`
	// +optional
	InputModes []string `json:"inputModes,omitempty"`
	// +optional
	OutputModes []string `json:"outputModes,omitempty"`
}

// AgentCardSignature is one detached JWS over the card.
type AgentCardSignature struct {
	// Protected is the base64url protected header.
	Protected string `json:"protected"`
	// Signature is the base64url signature.
	Signature string `json:"signature"`
	// +optional
	Header *AgentCardSignatureHeader `json:"header,omitempty"`
}

// AgentCardSignatureHeader is the unprotected JWS header.
type AgentCardSignatureHeader struct {
	// +optional
	Timestamp string `json:"timestamp,omitempty"`
}

// IdentityBinding requires the card's signing identity to be in a trust domain.
type IdentityBinding struct {
	// TrustDomain the signing SPIFFE ID must belong to; the platform's when empty.
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`
	// Strict makes a binding failure restrict the agent instead of only reporting it.
	// +kubebuilder:default=false
	// +optional
	Strict bool `json:"strict,omitempty"`
}

// SigstoreVerification configures keyless Sigstore verification of the card.
type SigstoreVerification struct {
	// +optional
	CertificateIdentity string `json:"certificateIdentity,omitempty"`
	// +optional
	CertificateOIDCIssuer string `json:"certificateOIDCIssuer,omitempty"`
}

// AgentCardSpec selects the workload whose card is fetched and verified.
type AgentCardSpec struct {
	// SyncPeriod between card fetches.
	// +kubebuilder:default="30s"
	// +optional
	SyncPeriod string `json:"syncPeriod,omitempty"`
	// TargetRef is the agent workload (it must carry kagenti.io/type=agent).
	TargetRef TargetRef `json:"targetRef"`
	// +optional
	IdentityBinding *IdentityBinding `json:"identityBinding,omitempty"`
	// +optional
	SigstoreVerification *SigstoreVerification `json:"sigstoreVerification,omitempty"`
}

// BindingStatus reports the identity binding check.
type BindingStatus struct {
	Bound bool `json:"bound"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastEvaluationTime *metav1.Time `json:"lastEvaluationTime,omitempty"`
}

// AgentCardStatus is the fetched card and the result of verifying it.
type AgentCardStatus struct {
	// +optional
	Card *AgentCardData `json:"card,omitempty"`
	// Conditions: Synced, Ready, Verified, SignatureVerified, Bound, SigstoreVerified.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// +optional
	TargetRef *TargetRef `json:"targetRef,omitempty"`
	// +optional
	ValidSignature *bool `json:"validSignature,omitempty"`
	// +optional
	SignatureVerificationDetails string `json:"signatureVerificationDetails,omitempty"`
	// +optional
	SignatureKeyID string `json:"signatureKeyId,omitempty"`
	// +optional
	SignatureSpiffeID string `json:"signatureSpiffeId,omitempty"`
	// +optional
	SignatureIdentityMatch *bool `json:"signatureIdentityMatch,omitempty"`
	// CardID is the sha256 of the card, for drift detection.
	// +optional
	CardID string `json:"cardId,omitempty"`
	// +optional
	AttestedAgentSpiffeID string `json:"attestedAgentSpiffeId,omitempty"`
	// +optional
	ExpectedSpiffeID string `json:"expectedSpiffeID,omitempty"`
	// +optional
	BindingStatus *BindingStatus `json:"bindingStatus,omitempty"`
	// +optional
	SigstoreBundleVerified *bool `json:"sigstoreBundleVerified,omitempty"`
	// +optional
	SigstoreIdentity string `json:"sigstoreIdentity,omitempty"`
	// +optional
	RekorLogIndex *int64 `json:"rekorLogIndex,omitempty"`
	// +optional
	SLSARepository string `json:"slsaRepository,omitempty"`
	// +optional
	SLSACommitSHA string `json:"slsaCommitSHA,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=agentcards;cards
// +kubebuilder:printcolumn:name="Protocol",type=string,JSONPath=`.status.protocol`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AgentCard fetches and verifies an agent's A2A card.
type AgentCard struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AgentCardSpec   `json:"spec,omitempty"`
	Status AgentCardStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AgentCardList is a list of AgentCards.
type AgentCardList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentCard `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AgentCard{}, &AgentCardList{})
}
