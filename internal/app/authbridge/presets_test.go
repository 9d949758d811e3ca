package authbridge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/authbridge"
	"github.com/trustsync/trustsync/renderers"
)

// tokenEndpoint is a token endpoint that exchanges any subject token for one naming the
// audience asked for, and remembers the audiences.
type tokenEndpoint struct {
	mu        sync.Mutex
	audiences []string
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/realms/agents/protocol/openid-connect/token" || r.ParseForm() != nil || r.PostForm.Get("subject_token") == "" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	aud := r.PostForm.Get("audience")
	e.mu.Lock()
	e.audiences = append(e.audiences, aud)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"exchanged-for-%s","token_type":"Bearer","expires_in":300}`, url.PathEscape(aud))
}

// upstreamApp is both the agent (behind the reverse proxy) and what it calls: it
// answers 200 and remembers each request's Authorization.
type upstreamApp struct {
	mu    sync.Mutex
	auths []string
}

func (a *upstreamApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.auths = append(a.auths, r.Header.Get("Authorization"))
	a.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (a *upstreamApp) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// renderAgent renders one agent with spec in a repository of its own and returns its
// config.yaml and, when it has them, its own routes.yaml.
func renderAgent(t *testing.T, p *gitopsv1.Platform, spec string) (config, routes string) {
	t.Helper()
	fsys := fstest.MapFS{
		"kustomization.yaml": {Data: []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: presets\nresources: [agent.yaml]\n")},
		"agent.yaml": {Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: example/agent:1, ports: [{containerPort: 8000}]}]}
---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: agent}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: agent}
` + spec)},
	}
	res, err := renderers.Render(fsys, ".", renderers.Options{Platform: p, SkipPolicyTests: true})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	for _, o := range res.Objects {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		switch o.GetName() {
		case agentv1.ConfigMapAgentConfigPrefix + "agent":
			config, _, _ = unstructured.NestedString(o.Object, "data", agentv1.KeyConfigYAML)
		case agentv1.ConfigMapAgentRoutesPrefix + "agent":
			routes, _, _ = unstructured.NestedString(o.Object, "data", agentv1.KeyRoutesYAML)
		}
	}
	if config == "" {
		t.Fatal("no config.yaml rendered")
	}
	return config, routes
}

// presetSidecar is a `trustsync authbridge` run on a rendered config.yaml, with only what
// the pod would give it moved into the test: its listeners on free ports, the files the
// webhook mounts (/shared, /etc/authproxy) in a temporary directory.
type presetSidecar struct {
	reverse, forward string
}

func startRendered(t *testing.T, config, routes, backend string) *presetSidecar {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"client-id.txt": "presets/agent\n", "client-secret.txt": "secret\n", "routes.yaml": routes}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	sc := &presetSidecar{reverse: freeAddr(t), forward: freeAddr(t)}
	listener := doc["listener"].(map[string]any)
	listener["reverse_proxy_addr"], listener["forward_proxy_addr"] = sc.reverse, sc.forward
	listener["reverse_proxy_backend"] = backend
	listener["transparent_proxy_addr"], listener["health_addr"], listener["session_api_addr"] = freeAddr(t), freeAddr(t), freeAddr(t)
	doc["stats"] = map[string]any{"address": freeAddr(t)}
	pipeline := doc["pipeline"].(map[string]any)
	for _, direction := range []string{"inbound", "outbound"} {
		for _, e := range pipeline[direction].(map[string]any)["plugins"].([]any) {
			entry := e.(map[string]any)
			cfg, _ := entry["config"].(map[string]any)
			switch entry["name"] {
			case "jwt-validation":
				if cfg != nil {
					cfg["audience_file"] = filepath.Join(dir, "client-id.txt")
				}
			case "token-exchange":
				if cfg != nil {
					identity := cfg["identity"].(map[string]any)
					identity["client_id_file"], identity["client_secret_file"] = filepath.Join(dir, "client-id.txt"), filepath.Join(dir, "client-secret.txt")
					if r, ok := cfg["routes"].(map[string]any); ok && r["file"] == "/etc/authproxy/routes.yaml" {
						r["file"] = filepath.Join(dir, "routes.yaml")
					}
				}
			}
		}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan authbridge.Addrs, 1)
	go func() {
		done <- authbridge.Run(ctx, authbridge.Options{
			ConfigPath: path, StateDir: t.TempDir(), Log: testr.New(t), Drain: 100 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
			Ready: func(a authbridge.Addrs) { ready <- a },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the sidecar refuses the rendered config: %v\n%s", err, data)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the sidecar did not start within 30 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("sidecar: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the sidecar did not stop")
		}
	})
	return sc
}

func (sc *presetSidecar) call(t *testing.T, u, token, body string) int {
	t.Helper()
	proxy, _ := url.Parse("http://" + sc.forward)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	return send(t, c, u, token, body)
}

func (sc *presetSidecar) inbound(t *testing.T, token string) int {
	t.Helper()
	return send(t, &http.Client{Timeout: 10 * time.Second}, "http://"+sc.reverse+"/hello", token, "")
}

func send(t *testing.T, c *http.Client, u, token, body string) int {
	t.Helper()
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestRenderedPresetsRun renders an agent with each preset and runs its config.yaml and
// routes.yaml in the real sidecar: the preset's plugins are the ones that act, a route of
// spec.auth.outbound drives the token exchange, and an observe entry lets through what its
// enforce entry refuses.
func TestRenderedPresetsRun(t *testing.T) {
	tokens := &tokenEndpoint{}
	kc := httptest.NewServer(tokens)
	t.Cleanup(kc.Close)
	app := &upstreamApp{}
	upstream := httptest.NewServer(app)
	t.Cleanup(upstream.Close)

	p := &gitopsv1.Platform{}
	p.Keycloak.URL, p.Keycloak.Realm = kc.URL, "agents"
	p.Spire.Enabled = new(bool) // no SPIRE here: no SVID, no mTLS
	p.Default()

	const audience = "spiffe://example.org/ns/tools/sa/weather"
	// The upstream app is 127.0.0.1:<port>; the route matches its host by a regex.
	route := "  auth:\n    outbound:\n    - destination: {hostRegex: '^127\\.0\\.0\\.[0-9]$'}\n      audiences: [" + audience + "]\n"
	batch := "[" + strings.TrimSuffix(strings.Repeat(`{"jsonrpc":"2.0","id":1,"method":"tools/list"},`, 101), ",") + "]"

	for _, tc := range []struct {
		name string
		spec string
		// inbound is the status of an unauthenticated inbound request: 401 where
		// jwt-validation runs.
		inbound int
		// exchanged says the outbound call carries the exchanged token.
		exchanged bool
		// batch is the status of an outbound MCP batch over mcp-parser's bound: refused
		// where mcp-parser enforces, let through where it observes or is off.
		batch int
	}{
		{name: "auth-only", spec: "  pluginPreset: auth-only\n" + route, inbound: 401, exchanged: true, batch: 200},
		{name: "ibac-only without ibac", spec: "  pluginPreset: ibac-only\n  plugins: [ibac:off]\n", inbound: 200, batch: 413},
		{name: "full without ibac", spec: "  pluginPreset: full\n  plugins: [ibac:off]\n" + route, inbound: 401, exchanged: true, batch: 413},
		{name: "full, mcp-parser observing", spec: "  pluginPreset: full\n  plugins: [ibac:off, mcp-parser:observe]\n" + route, inbound: 401, exchanged: true, batch: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config, routes := renderAgent(t, p, tc.spec)
			if (routes != "") != strings.Contains(tc.spec, "auth:") {
				t.Fatalf("routes.yaml %q for spec\n%s", routes, tc.spec)
			}
			sc := startRendered(t, config, routes, upstream.URL)

			if got := sc.inbound(t, ""); got != tc.inbound {
				t.Errorf("an inbound request without a token: %d, want %d", got, tc.inbound)
			}

			before := len(app.seen())
			if got := sc.call(t, upstream.URL+"/call", "user-token", ""); got != http.StatusOK {
				t.Fatalf("outbound call: %d", got)
			}
			seen := app.seen()
			want := "Bearer user-token"
			if tc.exchanged {
				want = "Bearer exchanged-for-" + url.PathEscape(audience)
			}
			if len(seen) != before+1 || seen[len(seen)-1] != want {
				t.Errorf("the callee saw %v, want %q last", seen[before:], want)
			}

			before = len(app.seen())
			got := sc.call(t, upstream.URL+"/mcp", "user-token", batch)
			reached := len(app.seen()) > before
			if got != tc.batch || reached != (tc.batch == http.StatusOK) {
				t.Errorf("an over-long MCP batch: status %d, reached the callee %v; want %d", got, reached, tc.batch)
			}
		})
	}
	tokens.mu.Lock()
	defer tokens.mu.Unlock()
	for _, aud := range tokens.audiences {
		if aud != audience {
			t.Errorf("the token endpoint was asked for audience %q, want only %q (from spec.auth.outbound)", aud, audience)
		}
	}
	if len(tokens.audiences) == 0 {
		t.Error("no token was exchanged")
	}
}
