package agentid

import (
	"crypto/sha256"
	"encoding/hex"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Keys of the credentials Secret, mounted into the pod under /shared.
const (
	SecretKeyClientID     = "client-id.txt"
	SecretKeyClientSecret = "client-secret.txt"
)

// CredentialsSecretName names the Secret holding an agent's client credentials. It is a
// pure function of namespace and workload, as in Kagenti, so it can be known at render
// time and by the webhook before the Secret exists. Its prefix is the family's
// (kagenti-keycloak-client-credentials-, rossoctl-keycloak-client-credentials-), so a
// Kagenti agent's Secret keeps the name it has always had.
func CredentialsSecretName(f agentv1.Family, namespace, workload string) string {
	secretPrefix := f.SecretClientCredentialsPrefix()
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
