package agentid

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
