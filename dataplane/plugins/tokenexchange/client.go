package tokenexchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"golang.org/x/sync/singleflight"

	"github.com/trustsync/trustsync/dataplane/plugins/internal/egress"
)

// Bounds of the exchange client.
const (
	// Timeout bounds one call to the token endpoint, and one JWT-SVID fetch.
	Timeout = 10 * time.Second
	// MaxErrorBody bounds what is read of a refusal (never shown to the caller).
	MaxErrorBody = 64 << 10
	// MaxResponseBody bounds a token response.
	MaxResponseBody = 1 << 20
	// MaxTokenBytes bounds a subject token; a longer one is not exchanged.
	MaxTokenBytes = 16 << 10
	// FilePollInterval is how often Run looks for missing credential files.
	FilePollInterval = 2 * time.Second
	// svidRefreshFraction of a JWT-SVID's lifetime is when a new one is fetched.
	svidRefreshFraction = 0.8
	// maxCredentialBytes bounds a credential file.
	maxCredentialBytes = 4 << 10
)

// RFC 8693 and RFC 7523 names, as upstream sends them.
const (
	grantTokenExchange      = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantClientCredentials  = "client_credentials"
	tokenTypeAccessToken    = "urn:ietf:params:oauth:token-type:access_token"
	assertionTypeJWTSPIFFE  = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe"
	assertionTypeJWTBearer  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	identityTypeSPIFFE      = "spiffe"
	identityTypeSecret      = "client-secret"
	noTokenDeny             = "deny"
	noTokenAllow            = "allow"
	noTokenClientCredential = "client-credentials"
)

// ExchangeError is a token endpoint's refusal. It carries the status and the OAuth
// error code only: the body may echo what was sent, so it is never kept.
type ExchangeError struct {
	URL    string
	Status int
	// Code is the response's OAuth "error" (invalid_grant, ...), when it has a short one.
	Code string
}

func (e *ExchangeError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("token endpoint %s: status %d", e.URL, e.Status)
	}
	return fmt.Sprintf("token endpoint %s: status %d (%s)", e.URL, e.Status, e.Code)
}

var errPending = errors.New("the client credentials are not there yet")

// credentials are the client's; secret is empty for type spiffe.
type credentials struct {
	clientID, secret string
}

// readCredential reads a credential file; found is false when it is missing or empty.
func readCredential(read func(string) ([]byte, error), name string) (string, bool, error) {
	b, err := read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("token-exchange: %s: %w", name, err)
	}
	if len(b) > maxCredentialBytes {
		return "", false, fmt.Errorf("token-exchange: %s: larger than %d bytes", name, maxCredentialBytes)
	}
	v := strings.TrimSpace(string(b))
	return v, v != "", nil
}

// JWTSVIDSource fetches JWT-SVIDs; go-spiffe's workloadapi.JWTSource is one.
type JWTSVIDSource interface {
	FetchJWTSVID(ctx context.Context, params jwtsvid.Params) (*jwtsvid.SVID, error)
}

// svidCache keeps the JWT-SVID of the client assertion until 80 % of its lifetime.
type svidCache struct {
	source   JWTSVIDSource
	audience string
	now      func() time.Time
	group    singleflight.Group

	mu        sync.Mutex
	token     string
	refreshAt time.Time
}

func (c *svidCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.refreshAt) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	ch := c.group.DoChan("svid", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		fetched := c.now()
		svid, err := c.source.FetchJWTSVID(fctx, jwtsvid.Params{Audience: c.audience})
		if err != nil {
			return "", fmt.Errorf("fetching a JWT-SVID for audience %s: %w", c.audience, err)
		}
		if svid == nil || !fetched.Before(svid.Expiry) {
			return "", fmt.Errorf("the JWT-SVID for audience %s has expired", c.audience)
		}
		issuedAt := fetched
		if iat, ok := svid.Claims["iat"].(float64); ok && iat > 0 {
			issuedAt = time.Unix(int64(iat), 0)
		}
		life := svid.Expiry.Sub(issuedAt)
		tok := svid.Marshal()
		c.mu.Lock()
		c.token, c.refreshAt = tok, issuedAt.Add(time.Duration(float64(life)*svidRefreshFraction))
		c.mu.Unlock()
		return tok, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// defaultHTTPClient is the client of the plugin's own calls.
func defaultHTTPClient() *http.Client { return egress.NewClient(Timeout, 16) }

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// post sends a token request and reads the issued access token.
func (p *Plugin) post(ctx context.Context, tokenURL string, form url.Values) (*tokenResponse, error) {
	start := time.Now()
	defer func() { p.metrics.seconds.Observe(time.Since(start).Seconds()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token endpoint %s: %w", tokenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint %s: %w", tokenURL, redactURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
		return nil, &ExchangeError{URL: tokenURL, Status: resp.StatusCode, Code: oauthCode(body)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("token endpoint %s: reading: %w", tokenURL, err)
	}
	if len(body) > MaxResponseBody {
		return nil, fmt.Errorf("token endpoint %s: response larger than %d bytes", tokenURL, MaxResponseBody)
	}
	var out tokenResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("token endpoint %s: the response is not a token response", tokenURL)
	}
	if !headerSafe(out.AccessToken) {
		return nil, fmt.Errorf("token endpoint %s: no usable access_token in the response", tokenURL)
	}
	return &out, nil
}

// redactURLError drops the *url.Error wrapper, whose text repeats the URL (already
// named) — it never carries the form, but the wrapper is noise.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// oauthCode is the response's OAuth error code when it is a short token of [a-z_]: a
// code, not text that might echo the request.
func oauthCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) > 64 {
		return ""
	}
	for _, c := range e.Error {
		if (c < 'a' || c > 'z') && c != '_' {
			return ""
		}
	}
	return e.Error
}

// headerSafe says a token may go into a header: non-empty visible ASCII without spaces.
func headerSafe(t string) bool {
	if t == "" || len(t) > MaxResponseBody {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// unverifiedSubject is the sub of a JWT, read without verification ("" when it is no
// JWT): the subject token is the agent's own, and the sub only names it.
func unverifiedSubject(token string) string {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Sub
}
