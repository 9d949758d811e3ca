package keycloaktest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Keycloak's endpoint paths below /realms/{realm}.
const (
	pathAuth       = "protocol/openid-connect/auth"
	pathToken      = "protocol/openid-connect/token"
	pathIntrospect = "protocol/openid-connect/token/introspect"
	pathUserinfo   = "protocol/openid-connect/userinfo"
	pathRevoke     = "protocol/openid-connect/revoke"
	pathLogout     = "protocol/openid-connect/logout"
	pathCerts      = "protocol/openid-connect/certs"
	pathDevice     = "protocol/openid-connect/auth/device"
)

// AttributeTokenExchange is the client attribute Keycloak's standard token exchange
// (v2) checks on the requesting client.
const AttributeTokenExchange = "standard.token.exchange.enabled"

var errUnsupported = errors.New("not supported by keycloaktest")

func newProvider(s *Server, rlm *realm) (*op.Provider, error) {
	config := &op.Config{AuthMethodPost: true}
	if _, err := rand.Read(config.CryptoKey[:]); err != nil {
		return nil, err
	}
	return op.NewProvider(config, &storage{s: s, realm: rlm}, op.StaticIssuer(s.Issuer(rlm.name)),
		op.WithAllowInsecure(),
		op.WithCustomAuthEndpoint(op.NewEndpoint(pathAuth)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(pathToken)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(pathIntrospect)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(pathUserinfo)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(pathRevoke)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(pathLogout)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(pathCerts)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(pathDevice)),
	)
}

// storage is the op.Storage of one realm: its clients are the ones the admin API holds.
type storage struct {
	s     *Server
	realm *realm
}

var (
	_ op.Storage                  = (*storage)(nil)
	_ op.ClientCredentialsStorage = (*storage)(nil)
	_ op.TokenExchangeStorage     = (*storage)(nil)
)

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// opClient is what the provider needs to know of a registered client.
type opClient struct {
	id     string
	grants []oidc.GrantType
	uris   []string
	login  string // the login form, waiting for an auth request id
}

func (c *opClient) GetID() string                       { return c.id }
func (c *opClient) RedirectURIs() []string              { return c.uris }
func (c *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType         { return c.grants }
func (c *opClient) LoginURL(id string) string            { return c.login + url.QueryEscape(id) }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c *opClient) DevMode() bool                        { return false }
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true } // Keycloak's ID tokens carry the profile
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// tokenRequest is a client_credentials request on behalf of the client's service account.
type tokenRequest struct {
	subject  string
	audience []string
	scopes   []string
}

func (r *tokenRequest) GetSubject() string    { return r.subject }
func (r *tokenRequest) GetAudience() []string { return r.audience }
func (r *tokenRequest) GetScopes() []string   { return r.scopes }

// lookup finds an enabled confidential client; s.mu must be held.
func (st *storage) lookup(clientID string) (*client, error) {
	c := st.realm.clientByClientID(clientID)
	if c == nil || !boolean(c.rep, "enabled") {
		return nil, errors.New("Invalid client or Invalid client credentials")
	}
	if boolean(c.rep, "publicClient") || boolean(c.rep, "bearerOnly") {
		return nil, errors.New("Public and bearer-only clients cannot authenticate")
	}
	return c, nil
}

func (st *storage) toOP(c *client) *opClient {
	oc := &opClient{id: str(c.rep, "clientId"), login: st.s.Issuer(st.realm.name) + "/" + pathLogin + "?tab_id="}
	if uris, ok := c.rep["redirectUris"].([]any); ok {
		for _, u := range uris {
			oc.uris = append(oc.uris, toString(u))
		}
	}
	if boolean(c.rep, "standardFlowEnabled") {
		oc.grants = append(oc.grants, oidc.GrantTypeCode)
	}
	if boolean(c.rep, "serviceAccountsEnabled") {
		oc.grants = append(oc.grants, oidc.GrantTypeClientCredentials)
	}
	oc.grants = append(oc.grants, oidc.GrantTypeTokenExchange)
	return oc
}

// authenticate checks a client secret; only client-secret clients have one.
func (st *storage) authenticate(clientID, secret string) (*client, error) {
	c, err := st.lookup(clientID)
	if err != nil {
		return nil, err
	}
	if str(c.rep, "clientAuthenticatorType") != "client-secret" ||
		subtle.ConstantTimeCompare([]byte(str(c.rep, "secret")), []byte(secret)) != 1 {
		return nil, errors.New("Invalid client or Invalid client credentials")
	}
	return c, nil
}

// audiences are what the client's default scopes' audience mappers add to its tokens.
func (st *storage) audiences(c *client) []string {
	var out []string
	for _, id := range c.defaultScopes {
		sc := st.realm.scopes[id]
		if sc == nil {
			continue
		}
		for _, m := range sc.mappers {
			cfg, _ := m["config"].(map[string]any)
			if str(m, "protocolMapper") != "oidc-audience-mapper" || toString(cfg["access.token.claim"]) != "true" {
				continue
			}
			if aud := toString(cfg["included.client.audience"]); aud != "" && st.realm.clientByClientID(aud) != nil && !slices.Contains(out, aud) {
				out = append(out, aud)
			}
			if aud := toString(cfg["included.custom.audience"]); aud != "" && !slices.Contains(out, aud) {
				out = append(out, aud)
			}
		}
	}
	return out
}

func (st *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	c, err := st.lookup(clientID)
	if err != nil {
		return nil, err
	}
	return st.toOP(c), nil
}

func (st *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	_, err := st.authenticate(clientID, secret)
	return err
}

func (st *storage) ClientCredentials(_ context.Context, clientID, secret string) (op.Client, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	c, err := st.authenticate(clientID, secret)
	if err != nil {
		return nil, err
	}
	return st.toOP(c), nil
}

func (st *storage) ClientCredentialsTokenRequest(_ context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	c, err := st.lookup(clientID)
	if err != nil {
		return nil, err
	}
	return &tokenRequest{subject: c.serviceAccount, audience: st.audiences(c), scopes: scopes}, nil
}

func (st *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return newID(), time.Now().Add(st.s.opts.AccessTokenLifetime), nil
}

func (st *storage) GetPrivateClaimsFromScopes(_ context.Context, userID, clientID string, _ []string) (map[string]any, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	name := "service-account-" + clientID
	if u := st.realm.users[userID]; u != nil {
		name = u.Username
	}
	return map[string]any{"azp": clientID, "typ": "Bearer", "preferred_username": name}, nil
}

// ValidateTokenExchangeRequest applies the checks of Keycloak's standard token exchange
// that matter for agents: the requester must allow it, be an audience of the subject
// token, and ask for audiences that are clients of the realm.
func (st *storage) ValidateTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if req.GetRequestedTokenType() == "" {
		req.SetRequestedTokenType(oidc.AccessTokenType)
	}
	if req.GetRequestedTokenType() != oidc.AccessTokenType {
		return oidc.ErrInvalidRequest().WithDescription("requested_token_type unsupported")
	}
	requester := st.realm.clientByClientID(req.GetClientID())
	if requester == nil || attribute(requester.rep, AttributeTokenExchange) != "true" {
		return oidc.ErrUnauthorizedClient().WithDescription("Standard token exchange is not enabled for the requested client")
	}
	if !audienceContains(req.GetExchangeSubjectTokenClaims()["aud"], req.GetClientID()) {
		return oidc.ErrInvalidRequest().WithDescription("Client is not within the token audience")
	}
	for _, aud := range req.GetAudience() {
		if st.realm.clientByClientID(aud) == nil {
			return oidc.ErrInvalidClient().WithDescription("Audience not found")
		}
	}
	req.SetCurrentScopes(req.GetScopes())
	return nil
}

func audienceContains(aud any, clientID string) bool {
	switch a := aud.(type) {
	case string:
		return a == clientID
	case []any:
		for _, x := range a {
			if toString(x) == clientID {
				return true
			}
		}
	case []string:
		return slices.Contains(a, clientID)
	}
	return false
}

func (st *storage) CreateTokenExchangeRequest(context.Context, op.TokenExchangeRequest) error {
	return nil
}

func (st *storage) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) (map[string]any, error) {
	claims := map[string]any{"azp": req.GetClientID(), "typ": "Bearer"}
	if u, ok := req.GetExchangeSubjectTokenClaims()["preferred_username"]; ok {
		claims["preferred_username"] = u
	}
	return claims, nil
}

func (st *storage) SetUserinfoFromTokenExchangeRequest(context.Context, *oidc.UserInfo, op.TokenExchangeRequest) error {
	return nil
}

func (st *storage) SigningKey(context.Context) (op.SigningKey, error) { return &st.realm.key, nil }

func (st *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (st *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{&st.realm.key}}, nil
}

func (st *storage) Health(context.Context) error { return nil }

// What neither agents nor the dashboard's sign-in use: refresh tokens, userinfo, introspection.

func (st *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrInvalidRequest().WithDescription("refresh tokens are not issued")
}
func (st *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}
func (st *storage) TerminateSession(context.Context, string, string) error { return errUnsupported }
func (st *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrRequestNotSupported()
}
func (st *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}
func (st *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errUnsupported
}
func (st *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}
func (st *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}
func (st *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}
