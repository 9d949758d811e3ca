package keycloak

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/trustsync/trustsync/internal/keycloaktest"
)

const testRealm = "kagenti"

// adminSecret is the Secret a Registrar reads its admin credentials from.
func adminSecret(user, pass string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: DefaultAdminSecretNS, Name: DefaultAdminSecretName},
		Data:       map[string][]byte{"username": []byte(user), "password": []byte(pass)},
	}
}

func startFake(t *testing.T) *keycloaktest.Server {
	t.Helper()
	s, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newRegistrar returns a Registrar against the fake, whose admin Secret holds secrets.
func newRegistrar(t *testing.T, s *keycloaktest.Server, o Options, secrets ...client.Object) *Registrar {
	t.Helper()
	if secrets == nil {
		secrets = []client.Object{adminSecret(s.AdminUsername(), s.AdminPassword())}
	}
	o.URL = s.URL
	r, err := NewRegistrar(o, fake.NewClientBuilder().WithObjects(secrets...).Build())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// platformClient creates the UI's client that every agent's audience scope attaches to.
func platformClient(t *testing.T, s *keycloaktest.Server) {
	t.Helper()
	kc := gocloak.NewClient(s.URL)
	ctx := context.Background()
	jwt, err := kc.LoginAdmin(ctx, s.AdminUsername(), s.AdminPassword(), "master")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateClient(ctx, jwt.AccessToken, testRealm, gocloak.Client{ClientID: gocloak.StringP(DefaultPlatformClientID), PublicClient: gocloak.BoolP(true)}); err != nil {
		t.Fatal(err)
	}
}

var agentA = Agent{Namespace: "team-a", Workload: "weather", ClientID: "spiffe://example.org/ns/team-a/sa/weather"}

func defaultScopes(t *testing.T, s *keycloaktest.Server, clientID string) []string {
	t.Helper()
	c, ok := s.Client(testRealm, clientID)
	if !ok {
		t.Fatalf("no client %s", clientID)
	}
	return *c.DefaultClientScopes
}

func TestEnsureRegisters(t *testing.T) {
	s := startFake(t)
	platformClient(t, s)
	r := newRegistrar(t, s, Options{})
	ctx := context.Background()

	reg, err := r.Ensure(ctx, agentA)
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Created || len(reg.Corrected) != 0 {
		t.Errorf("first Ensure: created %v corrected %v", reg.Created, reg.Corrected)
	}
	c, ok := s.Client(testRealm, agentA.ClientID)
	if !ok {
		t.Fatal("client not in Keycloak")
	}
	for field, ok := range map[string]bool{
		"name":                      gocloak.PString(c.Name) == "team-a/weather",
		"confidential":              !gocloak.PBool(c.PublicClient) && !gocloak.PBool(c.BearerOnly),
		"standardFlowEnabled":       gocloak.PBool(c.StandardFlowEnabled),
		"directAccessGrantsEnabled": gocloak.PBool(c.DirectAccessGrantsEnabled),
		"serviceAccountsEnabled":    gocloak.PBool(c.ServiceAccountsEnabled),
		"fullScopeAllowed false":    !gocloak.PBool(c.FullScopeAllowed),
		"clientAuthenticatorType":   gocloak.PString(c.ClientAuthenticatorType) == AuthClientSecret,
		"token exchange attribute":  (*c.Attributes)[AttributeTokenExchange] == "true",
		"no federated attributes":   (*c.Attributes)[AttributeJWTCredentialSub] == "",
		"secret returned":           reg.ClientSecret != "" && reg.ClientSecret == gocloak.PString(c.Secret),
	} {
		if !ok {
			t.Errorf("client field %s wrong: %+v", field, c)
		}
	}

	scopeName := "agent-team-a-weather-aud"
	sc, ok := s.ClientScope(testRealm, scopeName)
	if !ok {
		t.Fatalf("no audience scope; scopes: %v", s.ClientScopes(testRealm))
	}
	if ms := *sc.ProtocolMappers; len(ms) != 1 || gocloak.PString(ms[0].ProtocolMapper) != "oidc-audience-mapper" ||
		gocloak.PString(ms[0].ProtocolMappersConfig.IncludedClientAudience) != agentA.ClientID ||
		gocloak.PString(ms[0].ProtocolMappersConfig.AccessTokenClaim) != "true" {
		t.Errorf("audience mapper: %+v", ms)
	}
	if !slices.Contains(defaultScopes(t, s, agentA.ClientID), scopeName) {
		t.Error("scope not a default scope of the agent's client")
	}
	if !slices.Contains(defaultScopes(t, s, DefaultPlatformClientID), scopeName) {
		t.Error("scope not attached to the platform client")
	}
	if !slices.Contains(s.DefaultDefaultScopes(testRealm), scopeName) {
		t.Error("scope not a realm default scope")
	}

	// Again: nothing to do, nothing written, the admin token reused.
	updates, creates := s.Count(keycloaktest.RouteUpdateClient), s.Count(keycloaktest.RouteCreateClient)
	reg2, err := r.Ensure(ctx, agentA)
	if err != nil {
		t.Fatal(err)
	}
	if reg2.Created || len(reg2.Corrected) != 0 || reg2.ClientSecret != reg.ClientSecret {
		t.Errorf("second Ensure: created %v corrected %v same secret %v", reg2.Created, reg2.Corrected, reg2.ClientSecret == reg.ClientSecret)
	}
	if s.Count(keycloaktest.RouteUpdateClient) != updates || s.Count(keycloaktest.RouteCreateClient) != creates ||
		s.Count(keycloaktest.RouteCreateScope) != 1 || s.Count(keycloaktest.RouteCreateMapper) != 1 || s.Count(keycloaktest.RouteUpdateMapper) != 0 {
		t.Error("an Ensure with nothing drifted wrote to Keycloak")
	}
	if s.Logins() != 2 { // the platformClient helper's and the registrar's one
		t.Errorf("logins = %d: the admin token was not cached", s.Logins())
	}
}

func TestEnsureCorrectsDrift(t *testing.T) {
	s := startFake(t)
	r := newRegistrar(t, s, Options{})
	ctx := context.Background()
	if _, err := r.Ensure(ctx, agentA); err != nil {
		t.Fatal(err)
	}
	// An admin loosens the client in the console and adds an attribute of their own.
	if err := s.EditClient(testRealm, agentA.ClientID, func(c *gocloak.Client) {
		c.FullScopeAllowed = gocloak.BoolP(true)
		c.PublicClient = gocloak.BoolP(true)
		(*c.Attributes)[AttributeTokenExchange] = "false"
		(*c.Attributes)["custom"] = "kept"
	}); err != nil {
		t.Fatal(err)
	}
	reg, err := r.Ensure(ctx, agentA)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"attributes." + AttributeTokenExchange, "fullScopeAllowed", "publicClient"}
	if !slices.Equal(reg.Corrected, want) {
		t.Errorf("corrected %v, want %v", reg.Corrected, want)
	}
	c, _ := s.Client(testRealm, agentA.ClientID)
	if gocloak.PBool(c.FullScopeAllowed) || gocloak.PBool(c.PublicClient) || (*c.Attributes)[AttributeTokenExchange] != "true" {
		t.Errorf("drift not corrected: %+v", c)
	}
	if (*c.Attributes)["custom"] != "kept" {
		t.Error("an attribute the registrar does not own was dropped")
	}
	if s.Count(keycloaktest.RouteUpdateClient) != 1 {
		t.Errorf("%d client updates, want 1", s.Count(keycloaktest.RouteUpdateClient))
	}
}

func TestEnsureFederatedJWT(t *testing.T) {
	s := startFake(t)
	off := false
	r := newRegistrar(t, s, Options{ClientAuthType: AuthFederatedJWT, TokenExchange: &off})
	reg, err := r.Ensure(context.Background(), agentA)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Client(testRealm, agentA.ClientID)
	attrs := *c.Attributes
	if gocloak.PString(c.ClientAuthenticatorType) != AuthFederatedJWT || attrs[AttributeJWTCredentialIss] != DefaultSPIFFEIDPAlias ||
		attrs[AttributeJWTCredentialSub] != agentA.ClientID || attrs[AttributeTokenExchange] != "false" {
		t.Errorf("federated-jwt client: %s %v", gocloak.PString(c.ClientAuthenticatorType), attrs)
	}
	if reg.ClientSecret != "" {
		t.Error("a federated-jwt client's secret was handed out")
	}
}

func TestDelete(t *testing.T) {
	s := startFake(t)
	platformClient(t, s)
	r := newRegistrar(t, s, Options{})
	ctx := context.Background()
	other := Agent{Namespace: "team-b", Workload: "planner", ClientID: "team-b/planner"}
	for _, a := range []Agent{agentA, other} {
		if _, err := r.Ensure(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Delete(ctx, agentA); err != nil {
		t.Fatal(err)
	}
	if got := s.Clients(testRealm); !slices.Equal(got, []string{DefaultPlatformClientID, "team-b/planner"}) {
		t.Errorf("clients after Delete: %v", got)
	}
	if got := s.ClientScopes(testRealm); !slices.Equal(got, []string{"agent-team-b-planner-aud"}) {
		t.Errorf("scopes after Delete: %v", got)
	}
	if slices.Contains(s.DefaultDefaultScopes(testRealm), "agent-team-a-weather-aud") || slices.Contains(defaultScopes(t, s, DefaultPlatformClientID), "agent-team-a-weather-aud") {
		t.Error("deleted scope still linked")
	}
	if err := r.Delete(ctx, agentA); err != nil {
		t.Errorf("deleting again: %v", err)
	}
}

func TestKeycloakFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("down", func(t *testing.T) {
		s := startFake(t)
		r := newRegistrar(t, s, Options{RequestTimeout: 2 * time.Second})
		s.Down(true)
		_, err := r.Ensure(ctx, agentA)
		if ReasonOf(err) != ReasonKeycloakUnavailable {
			t.Fatalf("reason %s: %v", ReasonOf(err), err)
		}
		s.Down(false)
		if _, err := r.Ensure(ctx, agentA); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		s := startFake(t)
		r := newRegistrar(t, s, Options{RequestTimeout: 2 * time.Second})
		s.Close()
		if _, err := r.Ensure(ctx, agentA); ReasonOf(err) != ReasonKeycloakUnavailable {
			t.Fatalf("reason %s: %v", ReasonOf(err), err)
		}
	})
	t.Run("broken off half-way", func(t *testing.T) {
		s := startFake(t)
		r := newRegistrar(t, s, Options{})
		s.Fail(keycloaktest.RouteGetSecret, 1)
		if _, err := r.Ensure(ctx, agentA); ReasonOf(err) != ReasonKeycloakUnavailable {
			t.Fatalf("reason %s: %v", ReasonOf(err), err)
		}
		reg, err := r.Ensure(ctx, agentA)
		if err != nil {
			t.Fatal(err)
		}
		if reg.Created || len(s.Clients(testRealm)) != 1 || len(s.ClientScopes(testRealm)) != 1 {
			t.Errorf("the retry did not complete the same registration: created %v, clients %v, scopes %v", reg.Created, s.Clients(testRealm), s.ClientScopes(testRealm))
		}
	})
	t.Run("wrong admin password is not repeated", func(t *testing.T) {
		s := startFake(t)
		const password = "s3cr3t-Password-that-is-wrong"
		r := newRegistrar(t, s, Options{}, adminSecret(s.AdminUsername(), password))
		_, err := r.Ensure(ctx, agentA)
		if ReasonOf(err) != ReasonAdminLoginFailed {
			t.Fatalf("reason %s: %v", ReasonOf(err), err)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error repeats the password: %v", err)
		}
	})
	t.Run("a login error that echoes the password is scrubbed", func(t *testing.T) {
		const password = "echoed-Password-42"
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"bad password ` + r.PostForm.Get("password") + `"}`))
		}))
		defer echo.Close()
		r, err := NewRegistrar(Options{URL: echo.URL}, fake.NewClientBuilder().WithObjects(adminSecret("admin", password)).Build())
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Ensure(ctx, agentA)
		if ReasonOf(err) != ReasonAdminLoginFailed || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("reason %s: %v", ReasonOf(err), err)
		}
	})
	t.Run("admin Secret missing", func(t *testing.T) {
		s := startFake(t)
		other := adminSecret("admin", "x")
		other.Name = "elsewhere"
		r := newRegistrar(t, s, Options{}, other)
		_, err := r.Ensure(ctx, agentA)
		if ReasonOf(err) != ReasonAdminCredentials || !strings.Contains(err.Error(), "keycloak/keycloak-initial-admin") {
			t.Fatalf("reason %s: %v", ReasonOf(err), err)
		}
	})
	t.Run("configurable admin Secret", func(t *testing.T) {
		s := startFake(t)
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "iam", Name: "kc-admin"},
			Data:       map[string][]byte{"user": []byte(s.AdminUsername()), "pass": []byte(s.AdminPassword())},
		}
		r := newRegistrar(t, s, Options{AdminSecret: types.NamespacedName{Namespace: "iam", Name: "kc-admin"}, AdminUsernameKey: "user", AdminPasswordKey: "pass"}, sec)
		if _, err := r.Ensure(ctx, agentA); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAdminToken(t *testing.T) {
	s := startFake(t)
	r := newRegistrar(t, s, Options{})
	ctx := context.Background()
	now := time.Now()
	r.now = func() time.Time { return now }
	if _, err := r.Ensure(ctx, agentA); err != nil {
		t.Fatal(err)
	}
	// Keycloak's admin tokens live 60s; the registrar renews 10s early.
	now = now.Add(49 * time.Second)
	if _, err := r.Ensure(ctx, agentA); err != nil {
		t.Fatal(err)
	}
	if s.Logins() != 1 {
		t.Errorf("logins = %d before the token is near expiry, want 1", s.Logins())
	}
	now = now.Add(2 * time.Second)
	if _, err := r.Ensure(ctx, agentA); err != nil {
		t.Fatal(err)
	}
	if s.Logins() != 2 {
		t.Errorf("logins = %d once near expiry, want 2", s.Logins())
	}
	// A token Keycloak no longer knows (it restarted) is replaced at once.
	s.RevokeAdminTokens()
	if _, err := r.Ensure(ctx, agentA); err != nil {
		t.Fatalf("after the admin token was revoked: %v", err)
	}
	if s.Logins() != 3 {
		t.Errorf("logins = %d after revocation, want 3", s.Logins())
	}
}

func TestOptions(t *testing.T) {
	if _, err := NewRegistrar(Options{URL: "not a url", ClientAuthType: "password", Realm: "a/b"}, nil); err == nil ||
		!strings.Contains(err.Error(), "url") || !strings.Contains(err.Error(), "clientAuthType") || !strings.Contains(err.Error(), "realm") {
		t.Errorf("want every bad option named: %v", err)
	}
	r, err := NewRegistrar(Options{URL: "http://kc:8080"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := r.Options()
	if o.Realm != "kagenti" || o.AdminSecret.String() != "keycloak/keycloak-initial-admin" || o.AdminUsernameKey != "username" ||
		o.AdminPasswordKey != "password" || o.ClientAuthType != AuthClientSecret || o.SPIFFEIDPAlias != "spire-spiffe" ||
		!*o.TokenExchange || !slices.Equal(o.PlatformClientIDs, []string{"kagenti"}) {
		t.Errorf("defaults: %+v", o)
	}
}

func TestDrift(t *testing.T) {
	want := DesiredClient(agentA, Options{})
	live := want
	attrs := map[string]string{AttributeTokenExchange: "true", "other": "x"}
	live.Attributes = &attrs
	live.ID = gocloak.StringP("uuid")
	live.RedirectURIs = &[]string{"http://x"}
	if d := Drift(live, want); len(d) != 0 {
		t.Errorf("fields the registrar does not own count as drift: %v", d)
	}
	live.ClientAuthenticatorType = gocloak.StringP(AuthFederatedJWT)
	live.Name = nil
	delete(attrs, AttributeTokenExchange)
	if d := Drift(live, want); !slices.Equal(d, []string{"attributes." + AttributeTokenExchange, "clientAuthenticatorType", "name"}) {
		t.Errorf("drift = %v", d)
	}
	fixed := corrected(live, want)
	if d := Drift(fixed, want); len(d) != 0 || (*fixed.Attributes)["other"] != "x" || gocloak.PString(fixed.ID) != "uuid" {
		t.Errorf("corrected: drift %v, %+v", d, fixed)
	}
	live.Secret = gocloak.StringP("s")
	if corrected(live, want).Secret != nil {
		t.Error("the secret is sent back on update")
	}
}
