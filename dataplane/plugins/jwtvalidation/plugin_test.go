package jwtvalidation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/internal/tokencache"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

type fixture struct {
	p     *Plugin
	jwks  *jwksServer
	clock *clock
	reg   *prometheus.Registry
	logs  *logSink
}

func newFixture(t *testing.T, edit func(*sidecarconfig.JWTValidation)) *fixture {
	t.Helper()
	testKeys(t)
	f := &fixture{clock: newClock(), reg: prometheus.NewRegistry(), logs: &logSink{}}
	f.jwks = newJWKSServer(t, publicJWK(rsaKey1, "rsa1", jose.RS256), publicJWK(ecKey, "ec1", jose.ES256), publicJWK(rsaKey2, "ps1", jose.PS256))
	cfg := testConfig(f.jwks.URL)
	if edit != nil {
		edit(cfg)
	}
	p, err := New(cfg, Options{Now: f.clock.Now, Registerer: f.reg, Log: f.logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

func (f *fixture) count(result string) float64 {
	return testutil.ToFloat64(f.p.metricsVec(result))
}

// metricsVec maps a result to its counter, for the tests.
func (p *Plugin) metricsVec(result string) prometheus.Counter {
	return map[string]prometheus.Counter{
		resultAllowed: p.metrics.allowed, resultBypassed: p.metrics.bypassed, resultMissing: p.metrics.missing,
		resultMalformed: p.metrics.malformed, resultInvalid: p.metrics.invalid, resultPending: p.metrics.pending,
		fetchSuccess: p.metrics.fetchOK, fetchError: p.metrics.fetchFailed,
	}[result]
}

func TestAllowsAndSetsIdentity(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	for _, tc := range []struct {
		name string
		key  any
		kid  string
		alg  jose.SignatureAlgorithm
	}{
		{"RS256", rsaKey1, "rsa1", jose.RS256},
		{"ES256", ecKey, "ec1", jose.ES256},
		{"PS256", rsaKey2, "ps1", jose.PS256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("agent-a:8080", "/a2a", "Bearer "+sign(t, tc.key, tc.kid, tc.alg, goodClaims(now)))
			if d := f.p.OnRequest(context.Background(), r); d != nil {
				t.Fatalf("denied: %v", d)
			}
			want := pipeline.Identity{
				Subject: "sa-agent-a", ClientID: "team-a/caller", Scopes: []string{"openid", "profile", "email"},
				Issuer: testIssuer, Audience: []string{"team-a/agent-a", "account"}, Expiry: now.Add(5 * time.Minute),
			}
			got := r.Identity
			if got == nil || got.Subject != want.Subject || got.ClientID != want.ClientID || !slices.Equal(got.Scopes, want.Scopes) ||
				got.Issuer != want.Issuer || !slices.Equal(got.Audience, want.Audience) || !got.Expiry.Equal(want.Expiry) {
				t.Errorf("identity %+v, want %+v", got, want)
			}
		})
	}
	if got := f.count(resultAllowed); got != 3 {
		t.Errorf("allowed = %v, want 3", got)
	}
}

func TestHeaderAndTokenFailures(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	good := goodClaims(now)
	with := func(edit func(*tokenClaims)) tokenClaims { c := good; edit(&c); return c }
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := jwt.Signed(mustSigner(t, jose.RS256, rsaKey1, "rsa1")).Claims(good).Serialize()
	parts := strings.Split(payload, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey1.PublicKey)

	const realm = `Bearer realm="` + testIssuer + `"`
	for _, tc := range []struct {
		name, auth string
		headers    []string // instead of auth, several Authorization values
		code, msg  string
		challenge  string
		result     string
	}{
		{name: "missing", code: pipeline.CodeUnauthorized, msg: msgMissing, challenge: realm, result: resultMissing},
		{name: "basic", auth: "Basic dXNlcjpwYXNz", code: pipeline.CodeUnauthorized, msg: msgMalformed, challenge: realm + `, error="invalid_token"`, result: resultMalformed},
		{name: "bearer without token", auth: "Bearer ", code: pipeline.CodeUnauthorized, msg: msgMalformed, result: resultMalformed},
		{name: "bearer only", auth: "Bearer", code: pipeline.CodeUnauthorized, msg: msgMalformed, result: resultMalformed},
		{name: "two tokens", auth: "Bearer a b", code: pipeline.CodeUnauthorized, msg: msgMalformed, result: resultMalformed},
		{name: "two headers", headers: []string{"Bearer " + payload, "Bearer " + payload}, code: pipeline.CodeUnauthorized, msg: msgMalformed, result: resultMalformed},
		{name: "garbage", auth: "Bearer not-a-jwt", code: pipeline.CodeUnauthorized, msg: msgInvalid, challenge: realm + `, error="invalid_token"`, result: resultInvalid},
		{name: "expired beyond leeway", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-Leeway - time.Second)) })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "expired within leeway", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-Leeway + time.Second)) })), result: resultAllowed},
		{name: "not yet valid beyond leeway", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(Leeway + time.Second)) })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "nbf within leeway", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(Leeway - time.Second)) })), result: resultAllowed},
		{name: "issued in the future", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "no exp", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.Expiry = nil })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "wrong issuer", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.Issuer = testIssuer + "/" })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "wrong audience", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, with(func(c *tokenClaims) { c.Audience = jwt.Audience{"team-b/agent-b"} })), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "audience as a string", auth: "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, map[string]any{"iss": testIssuer, "aud": "team-a/agent-a", "exp": now.Add(time.Minute).Unix(), "sub": "s"}), result: resultAllowed},
		{name: "lowercase scheme", auth: "bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, good), result: resultAllowed},
		{name: "alg none", auth: "Bearer " + b64([]byte(`{"alg":"none","kid":"rsa1"}`)) + "." + parts[1] + ".", code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "HS256 with the public key as secret", auth: "Bearer " + sign(t, pubDER, "rsa1", jose.HS256, good), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "forged payload", auth: "Bearer " + parts[0] + "." + b64([]byte(`{"iss":"`+testIssuer+`","aud":"team-a/agent-a","sub":"admin","exp":9999999999}`)) + "." + parts[2], code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "signed by another key under a known kid", auth: "Bearer " + sign(t, rsaKey2, "rsa1", jose.RS256, good), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "key used with another alg than its own", auth: "Bearer " + sign(t, rsaKey2, "ps1", jose.RS256, good), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "no kid with several keys", auth: "Bearer " + sign(t, rsaKey1, "", jose.RS256, good), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
		{name: "oversized", auth: "Bearer " + strings.Repeat("a", MaxTokenBytes+1), code: pipeline.CodeUnauthorized, msg: msgInvalid, result: resultInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count(tc.result)
			r := request("agent-a", "/", tc.auth)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			d := f.p.OnRequest(context.Background(), r)
			if tc.code == "" {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
			} else {
				if d == nil {
					t.Fatal("allowed")
				}
				if d.Code != tc.code || d.Message != tc.msg || d.StatusCode() != http.StatusUnauthorized {
					t.Errorf("deny %s %q (%d), want %s %q 401", d.Code, d.Message, d.StatusCode(), tc.code, tc.msg)
				}
				if tc.challenge != "" && d.Challenge != tc.challenge {
					t.Errorf("challenge %q, want %q", d.Challenge, tc.challenge)
				}
				if r.Identity != nil {
					t.Error("identity set on a denied request")
				}
			}
			if got := f.count(tc.result); got != before+1 {
				t.Errorf("%s counter %v, want %v", tc.result, got, before+1)
			}
		})
	}
	// The detail is logged at debug level, never a token.
	logs := f.logs.String()
	if !strings.Contains(logs, "token validation failed") {
		t.Errorf("no debug log of the failures:\n%s", logs)
	}
	if strings.Contains(logs, parts[2]) || strings.Contains(logs, parts[1]) {
		t.Errorf("a token is in the logs:\n%s", logs)
	}
}

func mustSigner(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string) jose.Signer {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBypassPaths(t *testing.T) {
	f := newFixture(t, func(c *sidecarconfig.JWTValidation) {
		c.BypassPaths = append(slices.Clone(sidecarconfig.DefaultBypassPaths), "/public/*")
	})
	for _, tc := range []struct {
		path   string
		bypass bool
	}{
		{"/healthz", true},
		{"/.well-known/agent-card.json", true},
		{"/public/x", true},
		{"/a/../healthz", true},
		{"//healthz", true},
		{"/healthz/", true},
		{"/healthzz", false},
		{"/public/x/y", false},
		{"/.well-known/a/b", false},
		{"/", false},
		{"", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := request("agent-a", tc.path, "")
			d := f.p.OnRequest(context.Background(), r)
			if tc.bypass && d != nil {
				t.Errorf("denied a bypass path: %v", d)
			}
			if !tc.bypass && (d == nil || d.Message != msgMissing) {
				t.Errorf("want missing-header deny, got %v", d)
			}
		})
	}
}

func TestAudiences(t *testing.T) {
	testKeys(t)
	now := time.Now()
	tok := func(aud ...string) string {
		c := goodClaims(now)
		c.Audience = aud
		return "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, c)
	}
	for _, tc := range []struct {
		name  string
		cfg   func(*sidecarconfig.JWTValidation)
		file  string
		host  string
		token string
		allow bool
	}{
		{name: "allowed_audiences any-of", cfg: func(c *sidecarconfig.JWTValidation) { c.AllowedAudiences = []string{"x", "y"} }, token: tok("z", "y"), allow: true},
		{name: "audience", cfg: func(c *sidecarconfig.JWTValidation) { c.AllowedAudiences = nil; c.Audience = "solo" }, token: tok("solo"), allow: true},
		{name: "file trimmed", cfg: func(c *sidecarconfig.JWTValidation) {
			c.AllowedAudiences = nil
			c.AudienceFile = "/shared/client-id.txt"
		}, file: " team-a/agent-a\n", token: tok("team-a/agent-a"), allow: true},
		{name: "union", cfg: func(c *sidecarconfig.JWTValidation) { c.Audience = "solo"; c.AudienceFile = "/shared/client-id.txt" }, file: "from-file", token: tok("from-file"), allow: true},
		{name: "none matches", cfg: func(c *sidecarconfig.JWTValidation) { c.Audience = "solo" }, token: tok("other"), allow: false},
		{name: "per-host", cfg: func(c *sidecarconfig.JWTValidation) { c.AudienceMode = "per-host"; c.AllowedAudiences = nil }, host: "agent-b.team-b.svc:8080", token: tok("agent-b"), allow: true},
		{name: "per-host other host", cfg: func(c *sidecarconfig.JWTValidation) { c.AudienceMode = "per-host"; c.AllowedAudiences = nil }, host: "agent-c.team-b.svc", token: tok("agent-b"), allow: false},
		{name: "per-host ignores the static audiences", cfg: func(c *sidecarconfig.JWTValidation) { c.AudienceMode = "per-host" }, host: "agent-c", token: tok("team-a/agent-a"), allow: false},
		{name: "per-host without host", cfg: func(c *sidecarconfig.JWTValidation) { c.AudienceMode = "per-host" }, host: "", token: tok(""), allow: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwks := newJWKSServer(t, publicJWK(rsaKey1, "rsa1", jose.RS256))
			cfg := testConfig(jwks.URL)
			tc.cfg(cfg)
			p, err := New(cfg, Options{ReadFile: func(name string) ([]byte, error) {
				if name != "/shared/client-id.txt" {
					return nil, fs.ErrNotExist
				}
				return []byte(tc.file), nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Ready(); err != nil {
				t.Fatalf("not ready: %v", err)
			}
			host := tc.host
			if host == "" && !strings.HasPrefix(tc.name, "per-host without") {
				host = "agent-a"
			}
			d := p.OnRequest(context.Background(), request(host, "/", tc.token))
			if tc.allow != (d == nil) {
				t.Errorf("allow = %v, deny %v", d == nil, d)
			}
		})
	}
}

func TestAudienceFilePending(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, publicJWK(rsaKey1, "rsa1", jose.RS256))
	cfg := testConfig(jwks.URL)
	cfg.AllowedAudiences, cfg.AudienceFile = nil, "/shared/client-id.txt"
	var content atomic.Pointer[[]byte]
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Options{Registerer: reg, ReadFile: func(string) ([]byte, error) {
		if b := content.Load(); b != nil {
			return *b, nil
		}
		return nil, fmt.Errorf("open: %w", fs.ErrNotExist)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "/shared/client-id.txt") {
		t.Errorf("Ready = %v, want not ready naming the file", err)
	}
	tok := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, goodClaims(time.Now()))
	d := p.OnRequest(context.Background(), request("agent-a", "/", tok))
	if d == nil || d.Code != pipeline.CodeUnreachable || d.Message != msgPending || d.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("pending: got %v", d)
	}
	if got := testutil.ToFloat64(p.metrics.pending); got != 1 {
		t.Errorf("pending counter %v", got)
	}
	// Bypass paths still pass while pending.
	if d := p.OnRequest(context.Background(), request("agent-a", "/healthz", "")); d != nil {
		t.Errorf("bypass while pending: %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Run fetches the JWKS as a warm-up.
	waitfor.True(t, "the warm-up JWKS fetch", func() bool { return jwks.fetches.Load() == 1 })
	b := []byte("team-a/agent-a\n")
	content.Store(&b)
	waitfor.True(t, "Run to read the audience file", func() bool { return p.Ready() == nil })
	if d := p.OnRequest(context.Background(), request("agent-a", "/", tok)); d != nil {
		t.Errorf("after the file appeared: %v", d)
	}
	if n := jwks.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetches %d, want 1 (the warm-up's keys served the token)", n)
	}
}

func TestKeyRotationAndUnknownKids(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.clock.Now()
	old := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, goodClaims(now))
	if d := f.p.OnRequest(ctx, request("agent-a", "/", old)); d != nil {
		t.Fatal(d)
	}
	if n := f.jwks.fetches.Load(); n != 1 {
		t.Fatalf("first token: %d fetches, want 1", n)
	}
	// The issuer rotates to a new key: the first token with its kid refetches, once.
	f.clock.Add(RefetchInterval)
	f.jwks.set(http.StatusOK, publicJWK(ecKey, "new", jose.ES256))
	fresh := "Bearer " + sign(t, ecKey, "new", jose.ES256, goodClaims(now))
	if d := f.p.OnRequest(ctx, request("agent-a", "/", fresh)); d != nil {
		t.Fatalf("rotated key: %v", d)
	}
	if d := f.p.OnRequest(ctx, request("agent-a", "/", fresh)); d != nil {
		t.Fatal(d)
	}
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("after rotation: %d fetches, want 2", n)
	}
	// The old token was cached: it stays valid until its exp (documented).
	if d := f.p.OnRequest(ctx, request("agent-a", "/", old)); d != nil {
		t.Errorf("cached token after rotation: %v", d)
	}
	// A token of the rotated-out key that was never seen is refused.
	c := goodClaims(now)
	c.Subject = "other"
	if d := f.p.OnRequest(ctx, request("agent-a", "/", "Bearer "+sign(t, rsaKey1, "rsa1", jose.RS256, c))); d == nil {
		t.Error("new token of a rotated-out key allowed")
	}

	// A flood of unknown kids, concurrent and sequential, within RefetchInterval: no
	// further fetch.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			tok := "Bearer " + sign(t, ecKey, fmt.Sprintf("bogus-%d", i), jose.ES256, goodClaims(now))
			if d := f.p.OnRequest(ctx, request("agent-a", "/", tok)); d == nil {
				t.Error("unknown kid allowed")
			}
		})
	}
	wg.Wait()
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Errorf("flood within the interval: %d fetches, want 2", n)
	}
	// After the interval, one more (concurrent unknown kids collapse into one fetch).
	f.clock.Add(RefetchInterval)
	for i := range 50 {
		wg.Go(func() {
			tok := "Bearer " + sign(t, ecKey, fmt.Sprintf("bogus2-%d", i), jose.ES256, goodClaims(now))
			_ = f.p.OnRequest(ctx, request("agent-a", "/", tok))
		})
	}
	wg.Wait()
	if n := f.jwks.fetches.Load(); n != 3 {
		t.Errorf("flood after the interval: %d fetches, want 3", n)
	}
	if got := f.count(fetchSuccess); got != 3 {
		t.Errorf("fetch success counter %v", got)
	}
}

func TestConcurrentFirstTokensFetchOnce(t *testing.T) {
	f := newFixture(t, nil)
	tok := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, goodClaims(f.clock.Now()))
	var wg sync.WaitGroup
	var denied atomic.Int64
	for range 64 {
		wg.Go(func() {
			if d := f.p.OnRequest(context.Background(), request("agent-a", "/", tok)); d != nil {
				denied.Add(1)
			}
		})
	}
	wg.Wait()
	if denied.Load() != 0 || f.jwks.fetches.Load() != 1 {
		t.Errorf("denied %d, fetches %d; want 0 and 1", denied.Load(), f.jwks.fetches.Load())
	}
}

func TestFetchFailureIsNotCached(t *testing.T) {
	f := newFixture(t, nil)
	f.jwks.set(http.StatusServiceUnavailable)
	tok := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, goodClaims(f.clock.Now()))
	if d := f.p.OnRequest(context.Background(), request("agent-a", "/", tok)); d == nil || d.Message != msgInvalid {
		t.Fatalf("JWKS down: %v", d)
	}
	f.jwks.set(http.StatusOK, publicJWK(rsaKey1, "rsa1", jose.RS256))
	// No clock advance: with no keys loaded the next token fetches again.
	if d := f.p.OnRequest(context.Background(), request("agent-a", "/", tok)); d != nil {
		t.Fatalf("JWKS back: %v", d)
	}
	if f.count(fetchError) != 1 || f.count(fetchSuccess) != 1 {
		t.Errorf("fetch counters: error %v success %v", f.count(fetchError), f.count(fetchSuccess))
	}
}

func TestCachedTokens(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.clock.Now()
	tok := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, goodClaims(now))
	if d := f.p.OnRequest(ctx, request("agent-a", "/", tok)); d != nil {
		t.Fatal(d)
	}
	// A hit needs no key: with the keys gone and the JWKS down, it still passes.
	f.p.keys.mu.Lock()
	f.p.keys.keys = nil
	f.p.keys.mu.Unlock()
	f.jwks.set(http.StatusInternalServerError)
	if d := f.p.OnRequest(ctx, request("agent-a", "/", tok)); d != nil {
		t.Fatalf("cache hit: %v", d)
	}
	if n := f.jwks.fetches.Load(); n != 1 {
		t.Errorf("a hit fetched the JWKS: %d fetches", n)
	}
	// The audience is checked on every hit.
	f2 := newFixture(t, func(c *sidecarconfig.JWTValidation) { c.AudienceMode = "per-host" })
	c := goodClaims(now)
	c.Audience = jwt.Audience{"agent-a"}
	ptok := "Bearer " + sign(t, rsaKey1, "rsa1", jose.RS256, c)
	if d := f2.p.OnRequest(ctx, request("agent-a.ns", "/", ptok)); d != nil {
		t.Fatal(d)
	}
	if d := f2.p.OnRequest(ctx, request("agent-b.ns", "/", ptok)); d == nil {
		t.Error("a cached token passed for another host's audience")
	}
	// Never beyond exp: past it, the entry is gone and the token fails validation.
	f.jwks.set(http.StatusOK, publicJWK(rsaKey1, "rsa1", jose.RS256))
	f.clock.Add(5*time.Minute + Leeway + time.Second)
	if d := f.p.OnRequest(ctx, request("agent-a", "/", tok)); d == nil {
		t.Error("expired cached token allowed")
	}
}

func TestJWKSBounds(t *testing.T) {
	testKeys(t)
	many := make([]jose.JSONWebKey, MaxKeys+1)
	for i := range many {
		many[i] = publicJWK(ecKey, fmt.Sprint(i), jose.ES256)
	}
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		_, _ = w.Write(bytes.Repeat([]byte("a"), MaxJWKSBytes))
		_, _ = w.Write([]byte(`"}`))
	}))
	defer huge.Close()
	tooMany := newJWKSServer(t, many...)
	symmetric := newJWKSServer(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hs", Algorithm: "HS256"})
	for _, tc := range []struct {
		name, url, want string
	}{
		{"too large", huge.URL, "larger than"},
		{"too many keys", tooMany.URL, "at most 100"},
		{"symmetric keys only", symmetric.URL, "no RSA or EC signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &jwks{url: tc.url, client: defaultHTTPClient(), now: time.Now, metrics: mustMetrics(t)}
			_, err := j.fetch()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.url) {
				t.Errorf("got %v, want an error naming the URL with %q", err, tc.want)
			}
		})
	}
	// Keys that do not read and encryption keys are skipped; the rest is used.
	ks, err := parseKeySet([]byte(`{"keys":[{"kty":"weird","kid":"w"},{"kty":"EC","use":"enc","kid":"e","crv":"P-256","x":"x","y":"y"},` +
		string(mustJSON(t, publicJWK(rsaKey1, "rsa1", jose.RS256))) + `]}`))
	if err != nil || ks.lookup("rsa1") == nil || ks.lookup("w") != nil || ks.only == nil {
		t.Errorf("mixed set: %v %+v", err, ks)
	}
}

func mustMetrics(t *testing.T) *metrics {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t *testing.T, k jose.JSONWebKey) []byte {
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRefuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(testConfig("http://127.0.0.1:1/certs"), Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  func(*sidecarconfig.JWTValidation)
		opts Options
		want string
	}{
		{name: "placeholder mode", cfg: func(c *sidecarconfig.JWTValidation) { c.PlaceholderMode = true }, want: "placeholder_mode is not supported by this data plane"},
		{name: "no issuer", cfg: func(c *sidecarconfig.JWTValidation) { c.Issuer = "" }, want: "issuer is required"},
		{name: "a conflicting metric", opts: Options{Registerer: conflicting("trustsync_sidecar_jwt_validations_total")}, want: "registering metrics"},
		{name: "unreadable audience file", cfg: func(c *sidecarconfig.JWTValidation) { c.AudienceFile = "/shared/x" },
			opts: Options{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrPermission }}, want: "audience_file /shared/x"},
		{name: "bad bypass", cfg: func(c *sidecarconfig.JWTValidation) { c.BypassPaths = []string{"/["} }, want: "bypass path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1/certs")
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			_, err := New(cfg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDenyRendersChallenge(t *testing.T) {
	f := newFixture(t, nil)
	r := request("agent-a", "/", "Bearer x.y.z")
	d := f.p.OnRequest(context.Background(), r)
	d.Plugin = Name
	w := httptest.NewRecorder()
	d.Write(w)
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer realm="`+testIssuer+`", error="invalid_token"` {
		t.Errorf("%d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if want := `{"error":"auth.unauthorized","message":"token validation failed","plugin":"jwt-validation"}`; strings.TrimSpace(w.Body.String()) != want {
		t.Errorf("body %s, want %s", w.Body.String(), want)
	}
	if q := quote(`a"b\c`); q != `a\"b\\c` {
		t.Errorf("quote = %s", q)
	}
}

func TestRunStops(t *testing.T) {
	f := newFixture(t, nil)
	f.jwks.set(http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.p.Run(ctx); close(done) }()
	waitfor.True(t, "the warm-up fetch", func() bool { return f.jwks.fetches.Load() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(waitfor.Timeout):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(f.logs.String(), "JWKS not fetched") {
		t.Errorf("warm-up failure not logged: %s", f.logs.String())
	}
}

func BenchmarkCachedToken(b *testing.B) {
	testKeys(b)
	jwks := newJWKSServer(b, publicJWK(rsaKey1, "rsa1", jose.RS256))
	p, err := New(testConfig(jwks.URL), Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := "Bearer " + sign(b, rsaKey1, "rsa1", jose.RS256, goodClaims(time.Now()))
	r := request("agent-a:8080", "/a2a", tok)
	ctx := context.Background()
	if d := p.OnRequest(ctx, r); d != nil {
		b.Fatal(d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Identity = nil
		if d := p.OnRequest(ctx, r); d != nil {
			b.Fatal(d)
		}
	}
}

func BenchmarkUncachedToken(b *testing.B) {
	testKeys(b)
	jwks := newJWKSServer(b, publicJWK(rsaKey1, "rsa1", jose.RS256))
	p, err := New(testConfig(jwks.URL), Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := "Bearer " + sign(b, rsaKey1, "rsa1", jose.RS256, goodClaims(time.Now()))
	r := request("agent-a:8080", "/a2a", tok)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p.cache = tokencache.New[*verified](MaxCachedTokens)
		if d := p.OnRequest(ctx, r); d != nil {
			b.Fatal(d)
		}
	}
}

// conflicting is a registry holding another kind of collector under name.
func conflicting(name string) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "another"}))
	return r
}

// TestInstancesShareMetrics: a second instance (a reload's) counts into the first's
// collectors, so the counters continue.
func TestInstancesShareMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := New(testConfig("http://127.0.0.1:1/certs"), Options{Registerer: reg}); err != nil {
			t.Fatal(err)
		}
	}
}
