package agentid

import (
	"regexp"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func TestCredentialsSecretName(t *testing.T) {
	a := CredentialsSecretName(agentv1.Kagenti, "team-a", "weather")
	if !regexp.MustCompile(`^kagenti-keycloak-client-credentials-[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("unexpected name %q", a)
	}
	if a != CredentialsSecretName(agentv1.Kagenti, "team-a", "weather") {
		t.Fatal("name is not deterministic")
	}
	// The separator keeps ("a-b","c") and ("a","b-c") apart.
	if CredentialsSecretName(agentv1.Kagenti, "team-a", "weather") == CredentialsSecretName(agentv1.Kagenti, "team", "a-weather") {
		t.Fatal("names collide")
	}
	// Rossoctl's Secret has Rossoctl's prefix, and is not the Kagenti agent's.
	r := CredentialsSecretName(agentv1.Rossoctl, "team-a", "weather")
	if !regexp.MustCompile(`^rossoctl-keycloak-client-credentials-[0-9a-f]{16}$`).MatchString(r) {
		t.Fatalf("unexpected Rossoctl name %q", r)
	}
}

func TestClientID(t *testing.T) {
	if got := ClientID("spiffe://td/ns/a/sa/b", "a", "b"); got != "spiffe://td/ns/a/sa/b" {
		t.Errorf("with SPIFFE: %s", got)
	}
	if got := ClientID("", "a", "b"); got != "a/b" {
		t.Errorf("without SPIFFE: %s", got)
	}
}
