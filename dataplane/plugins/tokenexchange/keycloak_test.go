package tokenexchange

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Nerzal/gocloak/v13"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/jwtvalidation"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

const realm = "kagenti"

// register creates a confidential agent client with its own audience scope, as the
// Keycloak registrar does, and returns its secret.
func register(t *testing.T, kc *gocloak.GoCloak, token, clientID string, exchange bool) string {
	t.Helper()
	ctx := context.Background()
	id, err := kc.CreateClient(ctx, token, realm, gocloak.Client{
		ClientID: gocloak.StringP(clientID), ServiceAccountsEnabled: gocloak.BoolP(true), FullScopeAllowed: gocloak.BoolP(false),
		Attributes: &map[string]string{keycloaktest.AttributeTokenExchange: map[bool]string{true: "true", false: "false"}[exchange]},
	})
	if err != nil {
		t.Fatal(err)
	}
	scopeID, err := kc.CreateClientScope(ctx, token, realm, gocloak.ClientScope{Name: gocloak.StringP(clientID + "-aud"), Protocol: gocloak.StringP("openid-connect")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateClientScopeProtocolMapper(ctx, token, realm, scopeID, gocloak.ProtocolMappers{
		Name: gocloak.StringP(clientID + " audience"), Protocol: gocloak.StringP("openid-connect"), ProtocolMapper: gocloak.StringP("oidc-audience-mapper"),
		ProtocolMappersConfig: &gocloak.ProtocolMappersConfig{IncludedClientAudience: gocloak.StringP(clientID), AccessTokenClaim: gocloak.StringP("true")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := kc.AddDefaultScopeToClient(ctx, token, realm, id, scopeID); err != nil {
		t.Fatal(err)
	}
	secret, err := kc.GetClientSecret(ctx, token, realm, id)
	if err != nil {
		t.Fatal(err)
	}
	return gocloak.PString(secret.Value)
}

// TestKeycloakEndToEnd runs both plugins against the real OpenID provider: agent A gets
// a token by client_credentials (token-exchange's no-token path), agent A's inbound
// jwt-validation accepts it, and A's outbound token-exchange trades it for one to agent
// B, which B's jwt-validation accepts and A's refuses.
func TestKeycloakEndToEnd(t *testing.T) {
	kcs, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcs.Close)
	ctx := context.Background()
	kc := gocloak.NewClient(kcs.URL)
	admin, err := kc.LoginAdmin(ctx, kcs.AdminUsername(), kcs.AdminPassword(), "master")
	if err != nil {
		t.Fatal(err)
	}
	const agentA, agentB = "team-a/agent-a", "team-b/agent-b"
	secretA := register(t, kc, admin.AccessToken, agentA, true)
	register(t, kc, admin.AccessToken, agentB, false)
	issuer := kcs.Issuer(realm)
	tokenURL := issuer + "/protocol/openid-connect/token"
	creds := newFiles(sidecarconfig.DefaultClientIDFile, agentA+"\n", sidecarconfig.DefaultClientSecretFile, secretA+"\n")
	logs := &logSink{}

	// 1. A token for A by client_credentials, the client authenticated in the body.
	cc, err := New(func() *sidecarconfig.TokenExchange {
		c := testConfig(tokenURL, sidecarconfig.InlineRoute{Host: "self", TokenScopes: "openid profile"})
		c.NoTokenPolicy = noTokenClientCredential
		return c
	}(), Options{ReadFile: creds.read, Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	r := outbound("self", "")
	if d := cc.OnRequest(ctx, r); d != nil {
		t.Fatalf("client_credentials: %v", d)
	}
	tokenA := r.Header.Get("Authorization")

	// 2. A's inbound jwt-validation accepts it: issuer, audience any-of, azp. (The
	// provider's JWT access tokens carry no scope claim; the scope split is tested on
	// minted tokens in jwtvalidation.)
	inboundA, err := jwtvalidation.New(&sidecarconfig.JWTValidation{
		Issuer: issuer, JWKSURL: issuer + "/protocol/openid-connect/certs", AudienceMode: "static",
		AllowedAudiences: []string{"someone-else", agentA}, BypassPaths: sidecarconfig.DefaultBypassPaths,
	}, jwtvalidation.Options{Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	in := &pipeline.Request{Direction: pipeline.Inbound, Host: "agent-a:8080", Path: "/", Header: r.Header.Clone()}
	if d := inboundA.OnRequest(ctx, in); d != nil {
		t.Fatalf("A's token refused by A: %v", d)
	}
	id := in.Identity
	if id.Issuer != issuer || id.ClientID != agentA || !slices.Contains(id.Audience, agentA) || id.Subject == "" {
		t.Fatalf("identity of A's token: %+v", id)
	}

	// 3. A's outbound token-exchange trades it for a token to B.
	shim := &http.Client{Transport: basicAuthShim{t: t, next: http.DefaultTransport}}
	x, err := New(testConfig(tokenURL, sidecarconfig.InlineRoute{Host: "agent-b.team-b.svc", TargetAudience: agentB}),
		Options{ReadFile: creds.read, AgentID: agentA, Log: logs.logger(), HTTPClient: shim})
	if err != nil {
		t.Fatal(err)
	}
	out := outbound("agent-b.team-b.svc:8080", tokenA)
	if d := x.OnRequest(ctx, out); d != nil {
		t.Fatalf("exchange: %v\n%s", d, logs.String())
	}
	exchanged := strings.TrimPrefix(out.Header.Get("Authorization"), "Bearer ")
	claims, err := keycloaktest.VerifyAccessToken(ctx, issuer, exchanged)
	if err != nil {
		t.Fatalf("the exchanged token does not verify: %v", err)
	}
	if !slices.Contains(claims.Audience, agentB) || claims.Subject != id.Subject {
		t.Errorf("exchanged token aud %v sub %s; want %s and A's subject %s", claims.Audience, claims.Subject, agentB, id.Subject)
	}
	if out.Delegation.Origin != id.Subject || out.Delegation.Actor != agentA || out.Identity.ServiceID != agentB {
		t.Errorf("delegation %+v identity %+v", out.Delegation, out.Identity)
	}

	// 4. B's jwt-validation accepts the exchanged token; A's refuses it (not its audience).
	inboundB, err := jwtvalidation.New(&sidecarconfig.JWTValidation{
		Issuer: issuer, JWKSURL: issuer + "/protocol/openid-connect/certs", AudienceMode: "static",
		Audience: agentB, BypassPaths: sidecarconfig.DefaultBypassPaths,
	}, jwtvalidation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := inboundB.OnRequest(ctx, &pipeline.Request{Host: "agent-b", Path: "/", Header: out.Header.Clone()}); d != nil {
		t.Errorf("B refused the exchanged token: %v", d)
	}
	inboundA2, _ := jwtvalidation.New(&sidecarconfig.JWTValidation{
		Issuer: issuer, JWKSURL: issuer + "/protocol/openid-connect/certs", AudienceMode: "static", Audience: agentA,
	}, jwtvalidation.Options{})
	if d := inboundA2.OnRequest(ctx, &pipeline.Request{Host: "agent-a", Path: "/", Header: out.Header.Clone()}); d == nil {
		t.Error("A accepted a token addressed to B")
	}

	// 5. The endpoint refuses an exchange of a token not addressed to A: a 503, and the
	// logs carry neither the secret nor a token.
	y, err := New(testConfig(tokenURL, sidecarconfig.InlineRoute{Host: "agent-a", TargetAudience: agentA}), Options{ReadFile: creds.read, Log: logs.logger(), HTTPClient: shim})
	if err != nil {
		t.Fatal(err)
	}
	if d := y.OnRequest(ctx, outbound("agent-a", "Bearer "+exchanged)); d == nil || d.Code != pipeline.CodeExchangeFailed {
		t.Errorf("exchange of B's token by A: %v", d)
	}
	all := logs.String()
	for _, secret := range []string{secretA, strings.TrimPrefix(tokenA, "Bearer "), exchanged} {
		if strings.Contains(all, secret) {
			t.Errorf("the logs carry a secret or token:\n%s", all)
		}
	}
	if !strings.Contains(all, "status 400") {
		t.Errorf("the refusal is not logged with its status:\n%s", all)
	}
}

// basicAuthShim moves client_id and client_secret of a token exchange from the form to
// Basic authentication (form-encoded, RFC 6749 2.3.1). keycloaktest's provider (zitadel's
// op) reads a token exchange's client only from Basic, where Keycloak also takes them in
// the body, as upstream sends them; its client_credentials grant reads the body, and
// step 1 goes through unchanged.
type basicAuthShim struct {
	t    *testing.T
	next http.RoundTripper
}

func (s basicAuthShim) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	if form.Get("grant_type") != grantTokenExchange || !form.Has("client_secret") {
		s.t.Errorf("the shim saw a request without a token exchange's client_secret in the body")
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	form.Del("client_id")
	form.Del("client_secret")
	encoded := form.Encode()
	r = r.Clone(r.Context())
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(encoded)), int64(len(encoded))
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return s.next.RoundTrip(r)
}
