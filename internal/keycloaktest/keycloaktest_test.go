package keycloaktest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	oidcclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

const realmName = "kagenti"

func start(t *testing.T) (*Server, *gocloak.GoCloak, string) {
	t.Helper()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	kc := gocloak.NewClient(s.URL)
	jwt, err := kc.LoginAdmin(context.Background(), s.AdminUsername(), s.AdminPassword(), "master")
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return s, kc, jwt.AccessToken
}

func apiCode(err error) int {
	var e *gocloak.APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestAdminLogin(t *testing.T) {
	s, kc, _ := start(t)
	ctx := context.Background()
	if _, err := kc.LoginAdmin(ctx, s.AdminUsername(), "wrong", "master"); apiCode(err) != http.StatusUnauthorized {
		t.Errorf("wrong password: want 401, got %v", err)
	}
	if _, err := kc.LoginAdmin(ctx, "someone", s.AdminPassword(), "master"); apiCode(err) != http.StatusUnauthorized {
		t.Errorf("wrong user: want 401, got %v", err)
	}
	if _, err := kc.GetClients(ctx, "not-a-token", realmName, gocloak.GetClientsParams{}); apiCode(err) != http.StatusUnauthorized {
		t.Errorf("admin API with a bad token: want 401, got %v", err)
	}
	if s.Logins() != 1 {
		t.Errorf("logins = %d, want 1 (only the good one)", s.Logins())
	}
}

func TestShortAdminTokensExpire(t *testing.T) {
	s, err := Start(Options{AdminTokenLifetime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kc := gocloak.NewClient(s.URL)
	ctx := context.Background()
	jwt, err := kc.LoginAdmin(ctx, s.AdminUsername(), s.AdminPassword(), "master")
	if err != nil {
		t.Fatal(err)
	}
	if jwt.ExpiresIn != 1 {
		t.Errorf("expires_in = %d, want 1", jwt.ExpiresIn)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := kc.GetClients(ctx, jwt.AccessToken, realmName, gocloak.GetClientsParams{}); apiCode(err) != http.StatusUnauthorized {
		t.Errorf("expired token: want 401, got %v", err)
	}
}

func TestClientsAdminAPI(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()

	id, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("team-a/agent-a"), ServiceAccountsEnabled: gocloak.BoolP(true)})
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("no id from the Location header")
	}
	if _, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("team-a/agent-a")}); apiCode(err) != http.StatusConflict {
		t.Errorf("duplicate clientId: want 409, got %v", err)
	}
	if _, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("team-a/agent-ab")}); err != nil {
		t.Fatal(err)
	}

	list, err := kc.GetClients(ctx, token, realmName, gocloak.GetClientsParams{ClientID: gocloak.StringP("team-a/agent-a")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || gocloak.PString(list[0].ID) != id {
		t.Fatalf("?clientId= is an exact match: got %d clients", len(list))
	}
	got, err := kc.GetClient(ctx, token, realmName, id)
	if err != nil {
		t.Fatal(err)
	}
	// Keycloak's defaults are filled in; a confidential client gets a secret.
	if !gocloak.PBool(got.Enabled) || gocloak.PBool(got.PublicClient) || !gocloak.PBool(got.FullScopeAllowed) ||
		gocloak.PString(got.ClientAuthenticatorType) != "client-secret" || gocloak.PString(got.Protocol) != "openid-connect" {
		t.Errorf("defaults not applied: %+v", got)
	}

	// PUT applies the fields given and merges attributes.
	if err := kc.UpdateClient(ctx, token, realmName, gocloak.Client{ID: &id, Attributes: &map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := kc.UpdateClient(ctx, token, realmName, gocloak.Client{ID: &id, FullScopeAllowed: gocloak.BoolP(false), Attributes: &map[string]string{"b": "2"}}); err != nil {
		t.Fatal(err)
	}
	got, _ = kc.GetClient(ctx, token, realmName, id)
	if gocloak.PBool(got.FullScopeAllowed) || (*got.Attributes)["a"] != "1" || (*got.Attributes)["b"] != "2" || !gocloak.PBool(got.ServiceAccountsEnabled) {
		t.Errorf("update: %+v attributes %v", got, *got.Attributes)
	}

	secret, err := kc.GetClientSecret(ctx, token, realmName, id)
	if err != nil || gocloak.PString(secret.Value) == "" || gocloak.PString(secret.Value) != gocloak.PString(got.Secret) {
		t.Fatalf("client secret: %v", err)
	}
	again, err := kc.RegenerateClientSecret(ctx, token, realmName, id)
	if err != nil || gocloak.PString(again.Value) == gocloak.PString(secret.Value) {
		t.Fatalf("regenerate: %v", err)
	}

	if err := kc.DeleteClient(ctx, token, realmName, id); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.GetClient(ctx, token, realmName, id); apiCode(err) != http.StatusNotFound {
		t.Errorf("deleted client: want 404, got %v", err)
	}
	if _, err := kc.GetClients(ctx, token, "nope", gocloak.GetClientsParams{}); apiCode(err) != http.StatusNotFound {
		t.Errorf("unknown realm: want 404, got %v", err)
	}
	if got := s.Clients(realmName); !slices.Equal(got, []string{"team-a/agent-ab"}) {
		t.Errorf("clients left: %v", got)
	}
}

func TestClientScopesAdminAPI(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()
	scopeID, err := kc.CreateClientScope(ctx, token, realmName, gocloak.ClientScope{Name: gocloak.StringP("agent-a-aud"), Protocol: gocloak.StringP("openid-connect")})
	if err != nil || scopeID == "" {
		t.Fatalf("create scope: %q %v", scopeID, err)
	}
	if _, err := kc.CreateClientScope(ctx, token, realmName, gocloak.ClientScope{Name: gocloak.StringP("agent-a-aud")}); apiCode(err) != http.StatusConflict {
		t.Errorf("duplicate scope: want 409, got %v", err)
	}
	mapperID, err := kc.CreateClientScopeProtocolMapper(ctx, token, realmName, scopeID, audienceMapper("a"))
	if err != nil || mapperID == "" {
		t.Fatalf("create mapper: %q %v", mapperID, err)
	}
	mappers, err := kc.GetClientScopeProtocolMappers(ctx, token, realmName, scopeID)
	if err != nil || len(mappers) != 1 || gocloak.PString(mappers[0].ProtocolMappersConfig.IncludedClientAudience) != "a" {
		t.Fatalf("mappers: %v %v", mappers, err)
	}

	// Realm default default scopes are copied into clients created afterwards.
	if _, err := kc.GetRequestWithBearerAuth(ctx, token).Put(s.URL + "/admin/realms/" + realmName + "/default-default-client-scopes/" + scopeID); err != nil {
		t.Fatal(err)
	}
	defaults, err := kc.GetDefaultDefaultClientScopes(ctx, token, realmName)
	if err != nil || len(defaults) != 1 || gocloak.PString(defaults[0].ID) != scopeID {
		t.Fatalf("default default scopes: %v %v", defaults, err)
	}
	id, _ := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("x")})
	scopes, err := kc.GetClientsDefaultScopes(ctx, token, realmName, id)
	if err != nil || len(scopes) != 1 || gocloak.PString(scopes[0].Name) != "agent-a-aud" {
		t.Fatalf("client default scopes: %v %v", scopes, err)
	}

	// Deleting a scope unlinks it everywhere.
	if err := kc.DeleteClientScope(ctx, token, realmName, scopeID); err != nil {
		t.Fatal(err)
	}
	if scopes, _ := kc.GetClientsDefaultScopes(ctx, token, realmName, id); len(scopes) != 0 {
		t.Errorf("scope still linked to the client: %v", scopes)
	}
	if len(s.DefaultDefaultScopes(realmName)) != 0 || len(s.ClientScopes(realmName)) != 0 {
		t.Errorf("scope left behind")
	}
}

func TestDownAndFaults(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()
	s.Down(true)
	if _, err := kc.LoginAdmin(ctx, s.AdminUsername(), s.AdminPassword(), "master"); apiCode(err) != http.StatusServiceUnavailable {
		t.Errorf("login while down: want 503, got %v", err)
	}
	if _, err := kc.GetClients(ctx, token, realmName, gocloak.GetClientsParams{}); apiCode(err) != http.StatusServiceUnavailable {
		t.Errorf("admin API while down: want 503, got %v", err)
	}
	if _, err := http.Get(s.Issuer(realmName) + "/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	}
	s.Down(false)
	s.Fail(RouteCreateClient, 1)
	if _, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("x")}); apiCode(err) != http.StatusServiceUnavailable {
		t.Errorf("injected fault: want 503, got %v", err)
	}
	if _, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{ClientID: gocloak.StringP("x")}); err != nil {
		t.Errorf("after the fault: %v", err)
	}
	if n := s.Count(RouteCreateClient); n != 1 {
		t.Errorf("Count(create) = %d, want 1 (faults are not counted)", n)
	}
}

func tokenStatus(err error) int {
	var e *TokenError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func audienceMapper(clientID string) gocloak.ProtocolMappers {
	return gocloak.ProtocolMappers{
		Name: gocloak.StringP(clientID + " audience"), Protocol: gocloak.StringP("openid-connect"),
		ProtocolMapper: gocloak.StringP("oidc-audience-mapper"),
		ProtocolMappersConfig: &gocloak.ProtocolMappersConfig{
			IncludedClientAudience: gocloak.StringP(clientID), AccessTokenClaim: gocloak.StringP("true"), IDTokenClaim: gocloak.StringP("false"),
		},
	}
}

// register creates a confidential agent client with its own audience scope, as the
// Keycloak registrar does, and returns its secret.
func register(t *testing.T, kc *gocloak.GoCloak, token, clientID string, exchange bool) string {
	t.Helper()
	ctx := context.Background()
	id, err := kc.CreateClient(ctx, token, realmName, gocloak.Client{
		ClientID: gocloak.StringP(clientID), ServiceAccountsEnabled: gocloak.BoolP(true), FullScopeAllowed: gocloak.BoolP(false),
		Attributes: &map[string]string{AttributeTokenExchange: map[bool]string{true: "true", false: "false"}[exchange]},
	})
	if err != nil {
		t.Fatal(err)
	}
	scopeID, err := kc.CreateClientScope(ctx, token, realmName, gocloak.ClientScope{Name: gocloak.StringP(clientID + "-aud"), Protocol: gocloak.StringP("openid-connect")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateClientScopeProtocolMapper(ctx, token, realmName, scopeID, audienceMapper(clientID)); err != nil {
		t.Fatal(err)
	}
	if err := kc.AddDefaultScopeToClient(ctx, token, realmName, id, scopeID); err != nil {
		t.Fatal(err)
	}
	secret, err := kc.GetClientSecret(ctx, token, realmName, id)
	if err != nil {
		t.Fatal(err)
	}
	return gocloak.PString(secret.Value)
}

func verify(t *testing.T, issuer, token string) *oidc.AccessTokenClaims {
	t.Helper()
	ctx := context.Background()
	disc, err := oidcclient.Discover(ctx, issuer, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if disc.JwksURI != issuer+"/protocol/openid-connect/certs" || disc.TokenEndpoint != issuer+"/protocol/openid-connect/token" {
		t.Fatalf("not Keycloak's endpoints: %s %s", disc.JwksURI, disc.TokenEndpoint)
	}
	if !slices.Contains(disc.GrantTypesSupported, oidc.GrantTypeTokenExchange) || !slices.Contains(disc.GrantTypesSupported, oidc.GrantTypeClientCredentials) {
		t.Fatalf("grant types: %v", disc.GrantTypesSupported)
	}
	claims, err := VerifyAccessToken(ctx, issuer, token)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	return claims
}

func TestTokenExchange(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()
	secretA := register(t, kc, token, "team-a/agent-a", true)
	secretB := register(t, kc, token, "team-b/agent-b", false)
	issuer := s.Issuer(realmName)

	a, err := kc.LoginClient(ctx, "team-a/agent-a", secretA, realmName)
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	ca := verify(t, issuer, a.AccessToken)
	if !slices.Contains(ca.Audience, "team-a/agent-a") || ca.Issuer != issuer {
		t.Fatalf("A's token: aud %v iss %s", ca.Audience, ca.Issuer)
	}

	x, err := Exchange(ctx, issuer, "team-a/agent-a", secretA, a.AccessToken, "team-b/agent-b")
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	cx := verify(t, issuer, x)
	if !slices.Contains(cx.Audience, "team-b/agent-b") {
		t.Errorf("exchanged token aud = %v, want team-b/agent-b", cx.Audience)
	}
	if cx.Subject != ca.Subject || cx.Claims["azp"] != "team-a/agent-a" {
		t.Errorf("exchanged token sub %s azp %v; want A's subject %s and azp A", cx.Subject, cx.Claims["azp"], ca.Subject)
	}

	// The check is cryptographic: a token with a forged payload is rejected.
	parts := strings.Split(x, ".")
	forged := parts[0] + "." + parts[1][:len(parts[1])-2] + "AA." + parts[2]
	if _, err := VerifyAccessToken(ctx, issuer, forged); err == nil {
		t.Error("forged token verified")
	}

	// What Keycloak refuses.
	if _, err := kc.LoginClient(ctx, "team-a/agent-a", "wrong", realmName); apiCode(err) != http.StatusUnauthorized {
		t.Errorf("wrong secret: want 401, got %v", err)
	}
	b, err := kc.LoginClient(ctx, "team-b/agent-b", secretB, realmName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Exchange(ctx, issuer, "team-b/agent-b", secretB, b.AccessToken, "team-a/agent-a"); tokenStatus(err) != http.StatusBadRequest {
		t.Errorf("exchange by a client without token exchange: want 400, got %v", err)
	}
	if _, err := Exchange(ctx, issuer, "team-a/agent-a", secretA, b.AccessToken, "team-b/agent-b"); tokenStatus(err) != http.StatusBadRequest {
		t.Errorf("exchange of a token not addressed to the requester: want 400, got %v", err)
	}
	if _, err := Exchange(ctx, issuer, "team-a/agent-a", secretA, a.AccessToken, "nobody"); tokenStatus(err) != http.StatusUnauthorized {
		t.Errorf("exchange for an unknown audience: want 401 invalid_client, got %v", err)
	}
}

// SPIFFE IDs as client IDs have a colon, which Basic authentication must form-encode.
func TestSPIFFEClientID(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()
	const id = "spiffe://example.org/ns/team-a/sa/agent-a"
	secret := register(t, kc, token, id, true)
	tok, err := ClientCredentials(ctx, s.Issuer(realmName), id, secret)
	if err != nil {
		t.Fatalf("client_credentials for %s: %v", id, err)
	}
	if c := verify(t, s.Issuer(realmName), tok); !slices.Contains(c.Audience, id) || c.ClientID != id {
		t.Errorf("aud %v client_id %s", c.Audience, c.ClientID)
	}
}

// TestTokenExchangeClientSecretPost: a token exchange authenticated with client_id and
// client_secret in the form, as AuthBridge sends it, works as with Basic.
func TestTokenExchangeClientSecretPost(t *testing.T) {
	s, kc, token := start(t)
	ctx := context.Background()
	secretA := register(t, kc, token, "team-a/agent-a", true)
	register(t, kc, token, "team-b/agent-b", false)
	issuer := s.Issuer(realmName)
	a, err := kc.LoginClient(ctx, "team-a/agent-a", secretA, realmName)
	if err != nil {
		t.Fatal(err)
	}
	post := func(secret string) (int, string) {
		form := url.Values{
			"grant_type": {string(oidc.GrantTypeTokenExchange)}, "subject_token": {a.AccessToken},
			"subject_token_type": {string(oidc.AccessTokenType)}, "requested_token_type": {string(oidc.AccessTokenType)},
			"audience": {"team-b/agent-b"}, "client_id": {"team-a/agent-a"}, "client_secret": {secret},
		}
		resp, err := http.PostForm(issuer+"/"+pathToken, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.AccessToken
	}
	code, exchanged := post(secretA)
	if code != http.StatusOK {
		t.Fatalf("client_secret_post exchange: %d", code)
	}
	if c := verify(t, issuer, exchanged); !slices.Contains(c.Audience, "team-b/agent-b") {
		t.Errorf("aud %v", c.Audience)
	}
	if code, _ := post("wrong"); code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Errorf("a wrong client_secret in the form: %d", code)
	}
}
