package tokenexchange

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

const (
	testSecret   = "s3cr3t-client-secret-value"
	testClientID = "team-a/agent-a"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// endpoint is a fake token endpoint: it records the forms, counts the calls, and
// answers with a token naming what was asked.
type endpoint struct {
	*httptest.Server
	hits atomic.Int64

	mu        sync.Mutex
	forms     []url.Values
	basicAuth bool
	status    int
	body      string // instead of the token response, when set
	expiresIn int64
	gate      chan struct{} // when set, requests wait for it to close
}

func newEndpoint(t testing.TB) *endpoint {
	t.Helper()
	e := &endpoint{status: http.StatusOK, expiresIn: 300}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	n := e.hits.Add(1)
	_ = r.ParseForm()
	e.mu.Lock()
	e.forms = append(e.forms, r.PostForm)
	if _, _, ok := r.BasicAuth(); ok {
		e.basicAuth = true
	}
	status, body, exp, gate := e.status, e.body, e.expiresIn, e.gate
	e.mu.Unlock()
	if gate != nil {
		<-gate
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != "" {
		_, _ = w.Write([]byte(body))
		return
	}
	tok := fakeJWT(map[string]any{"sub": "issued-" + r.PostForm.Get("audience"), "aud": r.PostForm.Get("audience"), "scope": r.PostForm.Get("scope"), "n": n})
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "expires_in": exp, "token_type": "Bearer",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
	})
}

func (e *endpoint) set(edit func(e *endpoint)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	edit(e)
}

func (e *endpoint) form(i int) url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 {
		i += len(e.forms)
	}
	return e.forms[i]
}

// fakeJWT is an unsigned JWT-shaped token: the plugin reads it, never verifies it.
func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(b) + ".c2ln"
}

// files is a ReadFile over a map that tests change.
type files struct {
	mu sync.Mutex
	m  map[string]string
}

func newFiles(kv ...string) *files {
	f := &files{m: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.m[kv[i]] = kv[i+1]
	}
	return f
}

func (f *files) read(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[name]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return []byte(v), nil
}

func (f *files) set(name, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[name] = v
}

func credentialFiles() *files {
	return newFiles(sidecarconfig.DefaultClientIDFile, testClientID+"\n", sidecarconfig.DefaultClientSecretFile, testSecret+"\n")
}

func testConfig(tokenURL string, rules ...sidecarconfig.InlineRoute) *sidecarconfig.TokenExchange {
	return &sidecarconfig.TokenExchange{
		TokenURL: tokenURL, DefaultPolicy: sidecarconfig.ActionPassthrough, NoTokenPolicy: noTokenDeny,
		Identity: sidecarconfig.TokenExchangeIdentity{
			Type: identityTypeSecret, ClientIDFile: sidecarconfig.DefaultClientIDFile, ClientSecretFile: sidecarconfig.DefaultClientSecretFile,
		},
		Routes: sidecarconfig.TokenExchangeRoutes{File: sidecarconfig.DefaultRoutesFile, Rules: rules},
	}
}

func outbound(host, authorization string) *pipeline.Request {
	r := &pipeline.Request{Direction: pipeline.Outbound, Method: http.MethodPost, Scheme: "http", Host: host, Path: "/", Header: http.Header{}}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

// logSink collects every log line, at every verbosity.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
