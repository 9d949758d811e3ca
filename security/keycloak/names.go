package keycloak

import agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"

// Labels and annotations trustsync's Keycloak controller writes. The label values match
// what the renderer puts on generated objects.
const (
	LabelManagedBy             = "app.kubernetes.io/managed-by"
	ManagedBy                  = "trustsync"
	LabelAgentRuntime          = "trustsync.dev/agentruntime"
	LabelAgentRuntimeNamespace = "trustsync.dev/agentruntime-namespace"

	// AnnotationClientIDs on an AgentRuntime lists, space-separated, the client IDs
	// registered for it that are not yet cleaned up: written before a client is created,
	// so a client is never registered without a record of it, and trimmed once an old
	// one (the agent's ServiceAccount changed) is deleted.
	AnnotationClientIDs = "keycloak.trustsync.dev/client-ids"

	// Finalizer keeps an AgentRuntime until its Keycloak client, audience scope and
	// credentials Secret are deleted. One finalizer per concern: sharing Kagenti's
	// kagenti.io/cleanup with the controller that undoes the workload's labels would let
	// either remove it while the other still has work to do.
	Finalizer = "keycloak.trustsync.dev/cleanup"

	// FieldOwner is the server-side apply field manager of the controller's condition.
	FieldOwner = "trustsync-keycloak"

	// ConditionClientRegistered is the condition this controller owns.
	ConditionClientRegistered = agentv1.ConditionClientRegistered
)

// Reasons of ConditionClientRegistered.
const (
	ReasonRegistered          = "ClientRegistered"
	ReasonKeycloakUnavailable = "KeycloakUnavailable"
	ReasonAdminCredentials    = "AdminCredentialsUnavailable"
	ReasonAdminLoginFailed    = "AdminLoginFailed"
	ReasonRegistrationFailed  = "RegistrationFailed"
	ReasonTargetNotFound      = "TargetNotFound"
	ReasonUnsupportedKind     = "UnsupportedKind"
	ReasonInvalidIdentity     = "InvalidIdentity"
	ReasonCleanupFailed       = "CleanupFailed"
	ReasonSecretWriteFailed   = "SecretWriteFailed"
)
