package keycloaktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	oidcclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// TokenError is a token endpoint's refusal.
type TokenError struct {
	Status int
	Body   string
}

func (e *TokenError) Error() string { return fmt.Sprintf("token endpoint: %d %s", e.Status, e.Body) }

// ClientCredentials gets an access token for a client with the client_credentials grant.
// Unlike gocloak's LoginClient it form-encodes the Basic credentials (RFC 6749 2.3.1), so
// client IDs with a colon, as SPIFFE IDs have, authenticate.
func ClientCredentials(ctx context.Context, issuer, clientID, secret string) (string, error) {
	var out oidc.AccessTokenResponse
	if err := postToken(ctx, issuer, clientID, secret, url.Values{"grant_type": {string(oidc.GrantTypeClientCredentials)}}, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}

// Exchange trades subjectToken for an access token addressed to audience (RFC 8693) at
// the realm's token endpoint, as client clientID, the way AuthBridge does (gocloak's
// TokenOptions cannot send subject_token_type).
func Exchange(ctx context.Context, issuer, clientID, secret, subjectToken, audience string) (string, error) {
	form := url.Values{
		"grant_type":           {string(oidc.GrantTypeTokenExchange)},
		"subject_token":        {subjectToken},
		"subject_token_type":   {string(oidc.AccessTokenType)},
		"requested_token_type": {string(oidc.AccessTokenType)},
		"audience":             {audience},
	}
	var out oidc.TokenExchangeResponse
	if err := postToken(ctx, issuer, clientID, secret, form, &out); err != nil {
		return "", err
	}
	if out.IssuedTokenType != oidc.AccessTokenType {
		return "", fmt.Errorf("issued %s, not an access token", out.IssuedTokenType)
	}
	return out.AccessToken, nil
}

func postToken(ctx context.Context, issuer, clientID, secret string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/"+pathToken, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &TokenError{Status: resp.StatusCode, Body: string(body)}
	}
	return json.Unmarshal(body, out)
}

// VerifyAccessToken checks an access token as a resource server would: the keys come
// from the JWKS the issuer's discovery document names, then issuer, signature and
// expiry. The caller checks the audience.
func VerifyAccessToken(ctx context.Context, issuer, token string) (*oidc.AccessTokenClaims, error) {
	disc, err := oidcclient.Discover(ctx, issuer, http.DefaultClient)
	if err != nil {
		return nil, err
	}
	v := op.NewAccessTokenVerifier(issuer, rp.NewRemoteKeySet(http.DefaultClient, disc.JwksURI))
	return op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, v)
}
