package tokenexchange

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
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
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

type fixture struct {
	p     *Plugin
	ep    *endpoint
	clock *clock
	reg   *prometheus.Registry
	logs  *logSink
	files *files
}

func newFixture(t *testing.T, edit func(*sidecarconfig.TokenExchange), rules ...sidecarconfig.InlineRoute) *fixture {
	t.Helper()
	f := &fixture{ep: newEndpoint(t), clock: newClock(), reg: prometheus.NewRegistry(), logs: &logSink{}, files: credentialFiles()}
	cfg := testConfig(f.ep.URL+"/token", rules...)
	if edit != nil {
		edit(cfg)
	}
	p, err := New(cfg, Options{ReadFile: f.files.read, Now: f.clock.Now, Registerer: f.reg, Log: f.logs.logger(), AgentID: testClientID})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

func (f *fixture) count(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

var subjectToken = fakeJWT(map[string]any{"sub": "user-123", "aud": testClientID, "exp": 9999999999})

func TestExchangeForm(t *testing.T) {
	f := newFixture(t, nil, sidecarconfig.InlineRoute{Host: "agent-b.team-b.svc", TargetAudience: "team-b/agent-b", TokenScopes: "openid tools:call"})
	r := outbound("agent-b.team-b.svc:8080", "Bearer "+subjectToken)
	if d := f.p.OnRequest(context.Background(), r); d != nil {
		t.Fatal(d)
	}
	form := f.ep.form(0)
	want := map[string]string{
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"subject_token":        subjectToken,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:access_token",
		"audience":             "team-b/agent-b",
		"scope":                "openid tools:call",
		"client_id":            testClientID,
		"client_secret":        testSecret,
	}
	for k, v := range want {
		if got := form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(form) != len(want) {
		t.Errorf("form has %d fields, want %d: %v", len(form), len(want), keys(form))
	}
	if f.ep.basicAuth {
		t.Error("client authentication sent as Basic; upstream sends it in the body")
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") || unverifiedSubject(strings.TrimPrefix(auth, "Bearer ")) != "issued-team-b/agent-b" {
		t.Errorf("Authorization not replaced: %q", auth)
	}
	d := r.Delegation
	if d == nil || d.Origin != "user-123" || d.Actor != testClientID || len(d.Chain) != 1 {
		t.Fatalf("delegation %+v", d)
	}
	h := d.Chain[0]
	if h.SubjectID != "user-123" || h.Audience != "team-b/agent-b" || !slices.Equal(h.Scopes, []string{"openid", "tools:call"}) ||
		h.Strategy != StrategyTokenExchange || h.FromCache || !h.Time.Equal(f.clock.Now()) {
		t.Errorf("hop %+v", h)
	}
	id := r.Identity
	// As upstream's OPA plugin: client_id is this workload's own, service_id the callee.
	if id == nil || id.Subject != "user-123" || id.ClientID != "team-a/agent-a" || id.ServiceID != "team-b/agent-b" || !slices.Equal(id.Scopes, []string{"openid", "tools:call"}) {
		t.Errorf("identity %+v", id)
	}

	// Again: from the cache, and a second hop appends to an existing delegation.
	r2 := outbound("agent-b.team-b.svc", "bearer "+subjectToken)
	r2.Delegation = &pipeline.Delegation{Origin: "earlier", Chain: []pipeline.Hop{{SubjectID: "earlier"}}}
	if d := f.p.OnRequest(context.Background(), r2); d != nil {
		t.Fatal(d)
	}
	if f.ep.hits.Load() != 1 || r2.Header.Get("Authorization") != auth {
		t.Errorf("cache: %d hits, auth %q", f.ep.hits.Load(), r2.Header.Get("Authorization"))
	}
	if len(r2.Delegation.Chain) != 2 || !r2.Delegation.Chain[1].FromCache || r2.Delegation.Origin != "earlier" || r2.Identity.Subject != "earlier" {
		t.Errorf("second hop: %+v", r2.Delegation)
	}
	if f.count(f.p.metrics.exchanged) != 1 || f.count(f.p.metrics.cacheHit) != 1 {
		t.Errorf("metrics exchanged %v cache_hit %v", f.count(f.p.metrics.exchanged), f.count(f.p.metrics.cacheHit))
	}
}

func keys(v map[string][]string) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestRoutes(t *testing.T) {
	routesFile := `
- host: "agent-b.*.svc"
  target_audience: from-file
- host: "**.example.com"
  action: passthrough
`
	for _, tc := range []struct {
		name        string
		file        *string
		defaultExch bool
		host        string
		wantAud     string // "" with exchange true: no audience
		exchange    bool
		result      string
	}{
		{name: "file before inline", file: &routesFile, host: "agent-b.team-b.svc", wantAud: "from-file", exchange: true, result: resultExchanged},
		{name: "inline after file", file: &routesFile, host: "agent-b.other", wantAud: "inline-b", exchange: true, result: resultExchanged},
		{name: "star does not cross dots", file: &routesFile, host: "agent-b.x.y.svc", result: resultNoRoute},
		{name: "passthrough route", file: &routesFile, host: "api.example.com:443", result: resultPassthrough},
		{name: "inline passthrough flag", file: &routesFile, host: "ollama", result: resultPassthrough},
		{name: "no route, default passthrough", file: &routesFile, host: "elsewhere", result: resultNoRoute},
		{name: "no route, default exchange", file: &routesFile, defaultExch: true, host: "elsewhere", exchange: true, result: resultExchanged},
		{name: "no routes file", host: "agent-b.other", wantAud: "inline-b", exchange: true, result: resultExchanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{ep: newEndpoint(t), clock: newClock(), files: credentialFiles()}
			if tc.file != nil {
				f.files.set(sidecarconfig.DefaultRoutesFile, *tc.file)
			}
			cfg := testConfig(f.ep.URL+"/token",
				sidecarconfig.InlineRoute{Host: "agent-b.team-b.svc", TargetAudience: "shadowed", Action: "exchange"},
				sidecarconfig.InlineRoute{Host: "agent-b.*", TargetAudience: "inline-b"},
				sidecarconfig.InlineRoute{Host: "ollama", Passthrough: true},
			)
			if tc.defaultExch {
				cfg.DefaultPolicy = sidecarconfig.ActionExchange
			}
			p, err := New(cfg, Options{ReadFile: f.files.read})
			if err != nil {
				t.Fatal(err)
			}
			r := outbound(tc.host, "Bearer "+subjectToken)
			if d := p.OnRequest(context.Background(), r); d != nil {
				t.Fatal(d)
			}
			if got := f.ep.hits.Load() == 1; got != tc.exchange {
				t.Fatalf("exchanged = %v, want %v", got, tc.exchange)
			}
			if tc.exchange {
				form := f.ep.form(0)
				if _, has := form["audience"]; has != (tc.wantAud != "") || form.Get("audience") != tc.wantAud {
					t.Errorf("audience %q (present %v), want %q", form.Get("audience"), has, tc.wantAud)
				}
			} else if r.Header.Get("Authorization") != "Bearer "+subjectToken || r.Identity != nil || r.Delegation != nil {
				t.Error("a forwarded request was changed")
			}
			if got := testutil.ToFloat64(p.metricsByResult(tc.result)); got != 1 {
				t.Errorf("%s = %v, want 1", tc.result, got)
			}
		})
	}
}

func (p *Plugin) metricsByResult(result string) prometheus.Counter {
	return map[string]prometheus.Counter{
		resultExchanged: p.metrics.exchanged, resultCacheHit: p.metrics.cacheHit, resultPassthrough: p.metrics.passthrough,
		resultNoRoute: p.metrics.noRoute, resultFailed: p.metrics.failed, resultNoTokenDenied: p.metrics.noTokenDenied,
		resultClientCredentials: p.metrics.clientCredentials,
	}[result]
}

func TestCacheKeyAndTTL(t *testing.T) {
	f := newFixture(t, nil,
		sidecarconfig.InlineRoute{Host: "read", TargetAudience: "svc", TokenScopes: "read"},
		sidecarconfig.InlineRoute{Host: "write", TargetAudience: "svc", TokenScopes: "write"},
		sidecarconfig.InlineRoute{Host: "elsewhere", TargetAudience: "svc", TokenScopes: "read", TokenURL: "http://" + "127.0.0.1:1/token"},
	)
	ctx := context.Background()
	auth := func(host, tok string) string {
		r := outbound(host, "Bearer "+tok)
		if d := f.p.OnRequest(ctx, r); d != nil {
			t.Fatalf("%s: %v", host, d)
		}
		return r.Header.Get("Authorization")
	}
	read := auth("read", subjectToken)
	write := auth("write", subjectToken)
	if read == write || f.ep.hits.Load() != 2 {
		t.Fatalf("one audience, two scopes: %d exchanges, tokens equal %v (upstream's bug: scopes not in the key)", f.ep.hits.Load(), read == write)
	}
	if f.ep.form(1).Get("scope") != "write" {
		t.Errorf("second exchange asked scope %q", f.ep.form(1).Get("scope"))
	}
	// Another subject token is another key.
	other := fakeJWT(map[string]any{"sub": "user-456"})
	auth("read", other)
	if f.ep.hits.Load() != 3 {
		t.Errorf("another subject: %d exchanges, want 3", f.ep.hits.Load())
	}
	// The token URL is in the key: the unreachable endpoint is asked, and fails.
	if d := f.p.OnRequest(ctx, outbound("elsewhere", "Bearer "+subjectToken)); d == nil || d.Code != pipeline.CodeExchangeFailed {
		t.Errorf("another token URL served from the cache: %v", d)
	}
	if k1, k2 := cacheKey("a", "b", "c", "d"), cacheKey("a", "b", "cd", ""); k1 == k2 {
		t.Error("the key's parts are not separated")
	}

	// expires_in 300: cached for 270 s.
	f.clock.Add(269 * time.Second)
	if auth("read", subjectToken) != read || f.ep.hits.Load() != 3 {
		t.Error("not cached within expires_in - 30 s")
	}
	f.clock.Add(time.Second)
	if auth("read", subjectToken) == read || f.ep.hits.Load() != 4 {
		t.Error("cached beyond expires_in - 30 s")
	}
	// expires_in ≤ 30 s: never cached.
	f.ep.set(func(e *endpoint) { e.expiresIn = 30 })
	auth("write", other)
	auth("write", other)
	if f.ep.hits.Load() != 6 {
		t.Errorf("short-lived tokens: %d exchanges, want 6", f.ep.hits.Load())
	}
}

func TestConcurrentMissesExchangeOnce(t *testing.T) {
	f := newFixture(t, nil, sidecarconfig.InlineRoute{Host: "agent-b", TargetAudience: "team-b/agent-b"})
	gate := make(chan struct{})
	f.ep.set(func(e *endpoint) { e.gate = gate })
	const n = 32
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	auths := make([]string, n)
	denies := make([]*pipeline.Deny, n)
	for i := range n {
		wg.Go(func() {
			r := outbound("agent-b", "Bearer "+subjectToken)
			started.Done()
			denies[i] = f.p.OnRequest(context.Background(), r)
			auths[i] = r.Header.Get("Authorization")
		})
	}
	started.Wait()
	waitfor.True(t, "the first exchange to reach the endpoint", func() bool { return f.ep.hits.Load() == 1 })
	close(gate)
	wg.Wait()
	for i := range n {
		if denies[i] != nil || auths[i] != auths[0] || auths[i] == "Bearer "+subjectToken {
			t.Fatalf("request %d: deny %v auth %q", i, denies[i], auths[i])
		}
	}
	if got := f.ep.hits.Load(); got != 1 {
		t.Errorf("%d concurrent misses made %d exchanges, want 1", n, got)
	}
	if got := f.count(f.p.metrics.exchanged) + f.count(f.p.metrics.cacheHit); got != n {
		t.Errorf("exchanged + cache_hit = %v, want %d", got, n)
	}
}

func TestNoTokenPolicies(t *testing.T) {
	route := sidecarconfig.InlineRoute{Host: "agent-b", TargetAudience: "team-b/agent-b", TokenScopes: "tools"}
	t.Run("deny", func(t *testing.T) {
		f := newFixture(t, nil, route)
		r := outbound("agent-b", "")
		d := f.p.OnRequest(context.Background(), r)
		if d == nil || d.Code != pipeline.CodeUnauthorized || d.Message != msgMissing || d.StatusCode() != http.StatusUnauthorized {
			t.Fatalf("got %v", d)
		}
		// A Basic header is no bearer token either.
		r = outbound("agent-b", "Basic eDp5")
		if d := f.p.OnRequest(context.Background(), r); d == nil || d.Message != msgMissing {
			t.Errorf("basic: %v", d)
		}
		// A passthrough host needs no token.
		if d := f.p.OnRequest(context.Background(), outbound("elsewhere", "")); d != nil {
			t.Errorf("no route: %v", d)
		}
		if f.count(f.p.metrics.noTokenDenied) != 2 || f.ep.hits.Load() != 0 {
			t.Errorf("no_token_denied %v, hits %d", f.count(f.p.metrics.noTokenDenied), f.ep.hits.Load())
		}
	})
	t.Run("allow", func(t *testing.T) {
		f := newFixture(t, func(c *sidecarconfig.TokenExchange) { c.NoTokenPolicy = noTokenAllow }, route)
		r := outbound("agent-b", "")
		if d := f.p.OnRequest(context.Background(), r); d != nil || r.Header.Get("Authorization") != "" || f.ep.hits.Load() != 0 {
			t.Errorf("allow: %v %q", d, r.Header.Get("Authorization"))
		}
	})
	t.Run("client-credentials", func(t *testing.T) {
		f := newFixture(t, func(c *sidecarconfig.TokenExchange) { c.NoTokenPolicy = noTokenClientCredential }, route)
		for i := range 2 {
			r := outbound("agent-b", "")
			if d := f.p.OnRequest(context.Background(), r); d != nil {
				t.Fatal(d)
			}
			if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || r.Delegation.Chain[0].Strategy != StrategyClientCredentials ||
				r.Delegation.Origin != "issued-team-b/agent-b" || r.Identity.ServiceID != "team-b/agent-b" || r.Delegation.Chain[0].FromCache != (i == 1) {
				t.Errorf("request %d: %q %+v %+v", i, r.Header.Get("Authorization"), r.Delegation, r.Identity)
			}
		}
		form := f.ep.form(0)
		for k, v := range map[string]string{"grant_type": "client_credentials", "audience": "team-b/agent-b", "scope": "tools", "client_id": testClientID, "client_secret": testSecret} {
			if form.Get(k) != v {
				t.Errorf("form %s = %q, want %q", k, form.Get(k), v)
			}
		}
		if form.Has("subject_token") {
			t.Error("client_credentials sent a subject_token")
		}
		if f.ep.hits.Load() != 1 || f.count(f.p.metrics.clientCredentials) != 1 || f.count(f.p.metrics.cacheHit) != 1 {
			t.Errorf("hits %d, client_credentials %v, cache_hit %v", f.ep.hits.Load(), f.count(f.p.metrics.clientCredentials), f.count(f.p.metrics.cacheHit))
		}
		// A request with a token still exchanges it: the keys differ.
		if d := f.p.OnRequest(context.Background(), outbound("agent-b", "Bearer "+subjectToken)); d != nil || f.ep.hits.Load() != 2 {
			t.Errorf("with a token: %v, hits %d", d, f.ep.hits.Load())
		}
	})
}

func TestFailuresLeakNothing(t *testing.T) {
	f := newFixture(t, nil, sidecarconfig.InlineRoute{Host: "agent-b", TargetAudience: "team-b/agent-b"})
	ctx := context.Background()
	issuedTok := ""
	for _, tc := range []struct {
		name  string
		setup func()
		want  string // in the debug log
	}{
		{"refusal echoing the request", func() {
			f.ep.set(func(e *endpoint) {
				e.status = http.StatusBadRequest
				e.body = `{"error":"invalid_grant","error_description":"bad subject_token ` + subjectToken + ` for secret ` + testSecret + `"}`
			})
		}, "status 400 (invalid_grant)"},
		{"refusal with prose as the code", func() {
			f.ep.set(func(e *endpoint) {
				e.status = http.StatusUnauthorized
				e.body = `{"error":"Invalid ` + testSecret + `"}`
			})
		}, "status 401"},
		{"not JSON", func() { f.ep.set(func(e *endpoint) { e.status = http.StatusOK; e.body = "<html>" + testSecret }) }, "not a token response"},
		{"no access token", func() { f.ep.set(func(e *endpoint) { e.status = http.StatusOK; e.body = `{"expires_in":300}` }) }, "no usable access_token"},
		{"header injection", func() {
			f.ep.set(func(e *endpoint) {
				e.status = http.StatusOK
				e.body = `{"access_token":"a\r\nX-Evil: 1","expires_in":300}`
			})
		}, "no usable access_token"},
		{"unreachable", func() { f.ep.Close() }, "token endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			r := outbound("agent-b", "Bearer "+subjectToken)
			d := f.p.OnRequest(ctx, r)
			if d == nil || d.Code != pipeline.CodeExchangeFailed || d.Message != msgFailed || d.StatusCode() != http.StatusServiceUnavailable {
				t.Fatalf("got %v", d)
			}
			if r.Header.Get("Authorization") != "Bearer "+subjectToken || r.Identity != nil {
				t.Error("a failed exchange changed the request")
			}
			if !strings.Contains(f.logs.String(), tc.want) {
				t.Errorf("log lacks %q:\n%s", tc.want, f.logs.String())
			}
		})
	}
	if got := f.count(f.p.metrics.failed); got != 6 {
		t.Errorf("failed = %v, want 6", got)
	}
	var metricsText bytes.Buffer
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		metricsText.WriteString(mf.String())
	}
	for what, out := range map[string]string{"logs": f.logs.String(), "metrics": metricsText.String()} {
		for _, secret := range []string{testSecret, subjectToken, strings.Split(subjectToken, ".")[1], issuedTok} {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("%s contain a secret or token %.20q…:\n%s", what, secret, out)
			}
		}
	}
}

func TestPendingCredentials(t *testing.T) {
	ep := newEndpoint(t)
	fl := newFiles(sidecarconfig.DefaultClientIDFile, testClientID)
	p, err := New(testConfig(ep.URL, sidecarconfig.InlineRoute{Host: "agent-b", TargetAudience: "b"}), Options{ReadFile: fl.read})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), sidecarconfig.DefaultClientSecretFile) {
		t.Errorf("Ready = %v, want one naming the secret file", err)
	}
	if d := p.OnRequest(context.Background(), outbound("agent-b", "Bearer "+subjectToken)); d == nil || d.Code != pipeline.CodeExchangeFailed {
		t.Fatalf("pending: %v", d)
	}
	if ep.hits.Load() != 0 {
		t.Error("called the endpoint without credentials")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	fl.set(sidecarconfig.DefaultClientSecretFile, " "+testSecret+"\n")
	waitfor.True(t, "Run to load the secret", func() bool { return p.Ready() == nil })
	if d := p.OnRequest(context.Background(), outbound("agent-b", "Bearer "+subjectToken)); d != nil {
		t.Fatal(d)
	}
	if got := ep.form(0).Get("client_secret"); got != testSecret {
		t.Errorf("client_secret %q: not trimmed", got)
	}
	select {
	case <-done:
	case <-time.After(waitfor.Timeout):
		t.Error("Run did not return once the credentials were loaded")
	}
}

// svidSource mints JWT-SVIDs and counts the fetches.
type svidSource struct {
	t       *testing.T
	key     *ecdsa.PrivateKey
	now     func() time.Time
	life    time.Duration
	fetches atomic.Int64
	fail    atomic.Bool
}

func (s *svidSource) FetchJWTSVID(_ context.Context, p jwtsvid.Params) (*jwtsvid.SVID, error) {
	s.fetches.Add(1)
	if s.fail.Load() {
		return nil, errors.New("workload API unavailable")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: s.key, KeyID: "k"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := jwt.Claims{
		Subject: "spiffe://example.org/ns/team-a/sa/agent-a", Audience: jwt.Audience{p.Audience},
		Expiry: jwt.NewNumericDate(now.Add(s.life)), ID: fmt.Sprint(s.fetches.Load()),
	}
	// go-spiffe refuses an iat ahead of the real clock: once the test clock has moved
	// on, the SVID has none, and the plugin takes the fetch time as its start.
	if !now.After(time.Now()) {
		c.IssuedAt = jwt.NewNumericDate(now)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return nil, err
	}
	return jwtsvid.ParseInsecure(tok, []string{p.Audience})
}

func TestSPIFFEClientAssertion(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ assertionType, want string }{
		{"jwt-spiffe", "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe"},
		{"jwt-bearer", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
	} {
		t.Run(tc.assertionType, func(t *testing.T) {
			ep, clk := newEndpoint(t), newClock()
			src := &svidSource{t: t, key: key, now: clk.Now, life: 100 * time.Second}
			cfg := testConfig(ep.URL,
				sidecarconfig.InlineRoute{Host: "a", TargetAudience: "aud-a"},
				sidecarconfig.InlineRoute{Host: "b", TargetAudience: "aud-b"})
			cfg.Identity = sidecarconfig.TokenExchangeIdentity{Type: identityTypeSPIFFE, ClientID: "spiffe://example.org/ns/team-a/sa/agent-a", JWTAudience: "https://keycloak.example/realms/kagenti", AssertionType: tc.assertionType}
			p, err := New(cfg, Options{ReadFile: newFiles().read, Now: clk.Now, JWTSVIDs: src})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Ready(); err != nil {
				t.Fatal(err)
			}
			for _, host := range []string{"a", "b"} {
				if d := p.OnRequest(context.Background(), outbound(host, "Bearer "+subjectToken)); d != nil {
					t.Fatal(d)
				}
			}
			form := ep.form(0)
			if form.Get("client_id") != "spiffe://example.org/ns/team-a/sa/agent-a" || form.Get("client_assertion_type") != tc.want || form.Has("client_secret") {
				t.Errorf("form %v", form)
			}
			svid, err := jwtsvid.ParseInsecure(form.Get("client_assertion"), []string{"https://keycloak.example/realms/kagenti"})
			if err != nil {
				t.Fatalf("client_assertion is no JWT-SVID for jwt_audience: %v", err)
			}
			if svid.ID.String() != "spiffe://example.org/ns/team-a/sa/agent-a" {
				t.Errorf("svid %s", svid.ID)
			}
			if src.fetches.Load() != 1 || ep.form(1).Get("client_assertion") != form.Get("client_assertion") {
				t.Errorf("two exchanges fetched %d SVIDs, want 1 (reused until 80%% of its life)", src.fetches.Load())
			}
			// At 80 % of its lifetime the SVID is replaced.
			clk.Add(80 * time.Second)
			if d := p.OnRequest(context.Background(), outbound("a", "Bearer "+fakeJWT(map[string]any{"sub": "u2"}))); d != nil {
				t.Fatal(d)
			}
			if src.fetches.Load() != 2 || ep.form(2).Get("client_assertion") == form.Get("client_assertion") {
				t.Errorf("after 80%%: %d fetches", src.fetches.Load())
			}
			// A workload API failure fails the exchange with a 503.
			src.fail.Store(true)
			clk.Add(100 * time.Second)
			if d := p.OnRequest(context.Background(), outbound("a", "Bearer "+fakeJWT(map[string]any{"sub": "u3"}))); d == nil || d.Code != pipeline.CodeExchangeFailed {
				t.Errorf("SVID failure: %v", d)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(testConfig("http://127.0.0.1:1/token"), Options{ReadFile: credentialFiles().read, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	badRoutes := newFiles(sidecarconfig.DefaultRoutesFile, "routes:\n- host: a\n")
	for _, tc := range []struct {
		name string
		cfg  func(*sidecarconfig.TokenExchange)
		opts Options
		want string
	}{
		{name: "spiffe without source", cfg: func(c *sidecarconfig.TokenExchange) {
			c.Identity = sidecarconfig.TokenExchangeIdentity{Type: identityTypeSPIFFE, ClientID: "x", JWTAudience: "y"}
		}, want: "needs a JWT-SVID source"},
		{name: "resolve_placeholders", cfg: func(c *sidecarconfig.TokenExchange) { c.ResolvePlaceholders = true }, want: "resolve_placeholders is not supported"},
		{name: "audience_from_host", cfg: func(c *sidecarconfig.TokenExchange) { c.AudienceFromHost = true }, want: "audience_from_host is not supported"},
		{name: "routes file as a map", opts: Options{ReadFile: badRoutes.read}, want: "routes file " + sidecarconfig.DefaultRoutesFile},
		{name: "unreadable routes file", opts: Options{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrPermission }}, want: "routes file"},
		{name: "a conflicting metric", opts: Options{ReadFile: credentialFiles().read, Registerer: conflictingRegistry("trustsync_sidecar_token_exchanges_total")}, want: "registering metrics"},
		{name: "bad host glob", cfg: func(c *sidecarconfig.TokenExchange) {
			c.Routes.Rules = []sidecarconfig.InlineRoute{{Host: "a.[", Action: "exchange"}}
		}, want: `route 0 (host "a.[")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1/token")
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			if tc.opts.ReadFile == nil {
				tc.opts.ReadFile = credentialFiles().read
			}
			_, err := New(cfg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnverifiedSubject(t *testing.T) {
	for tok, want := range map[string]string{
		fakeJWT(map[string]any{"sub": "u"}): "u",
		"opaque-token":                      "",
		"a.!!!.c":                           "",
		"a." + "bm90IGpzb24" + ".c":         "",
	} {
		if got := unverifiedSubject(tok); got != want {
			t.Errorf("%q: %q, want %q", tok, got, want)
		}
	}
}

func BenchmarkExchangeCacheHit(b *testing.B) {
	ep := newEndpoint(b)
	p, err := New(testConfig(ep.URL, sidecarconfig.InlineRoute{Host: "agent-b.*.svc", TargetAudience: "team-b/agent-b", TokenScopes: "openid"}),
		Options{ReadFile: credentialFiles().read})
	if err != nil {
		b.Fatal(err)
	}
	// A Keycloak-sized subject token.
	tok := "Bearer " + fakeJWT(map[string]any{"sub": "user-123", "pad": strings.Repeat("x", 900)})
	r := outbound("agent-b.team-b.svc:8080", tok)
	ctx := context.Background()
	if d := p.OnRequest(ctx, r); d != nil {
		b.Fatal(d)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"][0] = tok
		r.Delegation, r.Identity = nil, nil
		if d := p.OnRequest(ctx, r); d != nil {
			b.Fatal(d)
		}
	}
}

// conflictingRegistry is a registry holding another kind of collector under name.
func conflictingRegistry(name string) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "another"}))
	return r
}
