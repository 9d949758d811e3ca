package agentid

import (
	"regexp"
	"testing"
)

func TestCredentialsSecretName(t *testing.T) {
	a := CredentialsSecretName("team-a", "weather")
	if !regexp.MustCompile(`^kagenti-keycloak-client-credentials-[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("unexpected name %q", a)
	}
	if a != CredentialsSecretName("team-a", "weather") {
		t.Fatal("name is not deterministic")
	}
	// The separator keeps ("a-b","c") and ("a","b-c") apart.
	if CredentialsSecretName("team-a", "weather") == CredentialsSecretName("team", "a-weather") {
		t.Fatal("names collide")
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
