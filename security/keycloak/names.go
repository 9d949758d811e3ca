package keycloak

import (
	"crypto/sha256"
	"encoding/hex"
)

// Keys of the credentials Secret, mounted into the pod under /shared.
const (
	SecretKeyClientID     = "client-id.txt"
	SecretKeyClientSecret = "client-secret.txt"
)

const secretPrefix = "kagenti-keycloak-client-credentials"

// CredentialsSecretName names the Secret holding an agent's client credentials. It is a
// pure function of namespace and workload, as in Kagenti, so it can be known at render
// time and by the webhook before the Secret exists.
func CredentialsSecretName(namespace, workload string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + workload + "\x00" + secretPrefix))
	return secretPrefix + "-" + hex.EncodeToString(sum[:8])
}

// ClientID is the Keycloak client ID of an agent: its SPIFFE ID when agents have SPIFFE
// identities, else <namespace>/<workload>.
func ClientID(spiffeID, namespace, workload string) string {
	if spiffeID != "" {
		return spiffeID
	}
	return namespace + "/" + workload
}

// ClientName is the display name of an agent's client.
func ClientName(namespace, workload string) string { return namespace + "/" + workload }

// AudienceScopeName names the client scope that adds an agent's client ID to the
// audience of tokens, as Kagenti names it.
func AudienceScopeName(namespace, workload string) string {
	return "agent-" + namespace + "-" + workload + "-aud"
}

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

	// ConditionClientRegistered says whether the agent's Keycloak client and credentials
	// Secret are in place.
	ConditionClientRegistered = "ClientRegistered"
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
