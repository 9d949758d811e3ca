package authbridge_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/authbridge"
	appbundleserver "github.com/trustsync/trustsync/internal/app/bundleserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/secretscan"
	"github.com/trustsync/trustsync/internal/sidecartest"
	"github.com/trustsync/trustsync/internal/spiretest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/policy"
)

var env *testenv.Env

// scan sees every log and access-log line of the sidecars these tests run, and every
// credential the OIDC provider issued: once the tests have passed, no line may hold one.
var scan = secretscan.New()

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWith(m, &env, testenv.Options{AfterTests: scanForSecrets}))
}

// scanForSecrets fails the package when a sidecar logged a token or client secret, or
// the cluster's Events or statuses hold one.
func scanForSecrets(ctx context.Context, e *testenv.Env) error {
	if err := scan.SweepCluster(ctx, e.Client); err != nil {
		return err
	}
	// A run of some tests only (go test -run) leaves only some kinds of text.
	verdict, err := scan.Verdict([]string{"log", "access"}, flag.Lookup("test.run").Value.String() != "")
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, verdict)
	return nil
}

// world is everything the sidecars talk to: SPIRE, the bundle server on an API
// server, the OIDC provider, and the two agents' backends.
type world struct {
	t        *testing.T
	ctx      context.Context
	spire    *spiretest.Server
	kc       *keycloaktest.Server
	issuer   string
	bundles  string // the bundle server's address
	sources  map[spiffeid.ID]*workloadapi.X509Source
	a, b, c  spiffeid.ID
	secrets  map[spiffeid.ID]string
	stopBS   func()
	bsServer spiffeid.ID
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := httpservertest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func newWorld(t *testing.T, ctx context.Context) *world {
	w := &world{t: t, ctx: ctx, sources: map[spiffeid.ID]*workloadapi.X509Source{}, secrets: map[spiffeid.ID]string{}}
	w.spire = spiretest.Run(t, spiretest.Options{TrustDomain: "example.org"})
	w.bsServer = w.spire.ID("/ns/trustsync-system/sa/trustsync-bundle-server")
	w.a = w.spire.ID("/ns/team-a/sa/agent-a")
	w.b = w.spire.ID("/ns/team-b/sa/agent-b")
	w.c = w.spire.ID("/ns/team-c/sa/agent-c")
	for _, id := range []spiffeid.ID{w.bsServer, w.a, w.b, w.c} {
		if err := w.spire.AddWorkload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []spiffeid.ID{w.bsServer, w.a, w.b, w.c} {
		src, err := w.spire.X509Source(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		w.sources[id] = src
	}

	kc, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	t.Cleanup(func() { // before Close: cleanups run last first
		for _, v := range kc.Issued() {
			scan.Secret("a token or client secret the OIDC provider issued", []byte(v))
		}
	})
	w.kc, w.issuer = kc, kc.Issuer(sidecartest.Realm)
	secrets, err := sidecartest.RegisterClients(ctx, kc, w.a.String(), w.b.String(), w.c.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []spiffeid.ID{w.a, w.b, w.c} {
		w.secrets[id] = secrets[id.String()]
	}

	c := env.Client
	for _, ns := range []string{"trustsync-system", "team-a", "team-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*agentv1.AuthorizationPolicy{
		policy.DefaultGlobalPolicy(gitopsv1.DefaultPlatformNamespace, false),
		clientPolicy("team-b", "agent-b", map[string]string{
			// B takes calls from A only, over mutual TLS from A's sidecar, and never returns
			// a response marked classified.
			"inbound/request.rego":  "package authbridge.client.inbound.request\n\ndefault allow := false\n\nallow if {\n\tinput.identity.client_id == \"" + w.a.String() + "\"\n\tinput.peer.spiffe_id == \"" + w.a.String() + "\"\n}\n",
			"inbound/response.rego": "package authbridge.client.inbound.response\n\ndefault allow := false\n\nallow if not input.response.headers[\"x-classified\"]\n",
		}),
		clientPolicy("team-a", "agent-a", map[string]string{
			// Nobody may call A; A may call every tool but one.
			"inbound/request.rego":  "package authbridge.client.inbound.request\n\ndefault allow := false\n",
			"outbound/request.rego": "package authbridge.client.outbound.request\n\ndefault allow := false\n\nallow if not forbidden\n\nforbidden if input.mcp.params.name == \"forbidden_tool\"\n",
		}),
	} {
		// Each world starts from these policies, whatever an earlier one changed.
		err := c.Create(ctx, p)
		if apierrors.IsAlreadyExists(err) {
			cur := &agentv1.AuthorizationPolicy{}
			if err = c.Get(ctx, client.ObjectKeyFromObject(p), cur); err == nil {
				cur.Spec = p.Spec
				err = c.Update(ctx, cur)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	w.bundles = freeAddr(t)
	return w
}

// startBundleServer runs trustsync's bundle server until the returned stop.
func (w *world) startBundleServer() {
	t := w.t
	probe := freeAddr(t)
	runCtx, stop := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	src := w.sources[w.bsServer]
	go func() {
		done <- appbundleserver.Run(runCtx, env.Config, appbundleserver.Options{
			Addr: w.bundles, ProbeAddr: probe, PlatformNamespace: gitopsv1.DefaultPlatformNamespace,
			TrustDomain: w.spire.TrustDomain(), SVID: src, Bundles: src,
		})
	}()
	var once sync.Once
	w.stopBS = func() {
		once.Do(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("bundle server: %v", err)
			}
		})
	}
	t.Cleanup(w.stopBS)
	waitfor.NoError(t, "the bundle server's readiness", func() error { return getOK("http://" + probe + "/readyz") })
}

func getOK(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	return nil
}

func clientPolicy(ns, name string, files map[string]string) *agentv1.AuthorizationPolicy {
	p := &agentv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient},
	}
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: path, Content: files[path]})
	}
	return p
}

// token is a client_credentials token of id, addressed to id itself.
func (w *world) token(id spiffeid.ID) string {
	tok, err := keycloaktest.ClientCredentials(w.ctx, w.issuer, id.String(), w.secrets[id])
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// agentApp is an agent's own HTTP server, behind its sidecar's reverse proxy.
type agentApp struct {
	srv *http.Server
	url string
	// lastAuth is the Authorization the app last received.
	lastAuth atomic.Pointer[string]
	// sseStep lets the test hold the SSE stream between events.
	sseStep chan struct{}
}

func startApp(t *testing.T) *agentApp {
	app := &agentApp{sseStep: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		app.lastAuth.Store(&auth)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"hello":"world"}`)
	})
	mux.HandleFunc("/classified", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Classified", "yes")
		_, _ = io.WriteString(w, "secret plans")
	})
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID any `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{"content": []any{}}})
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d}\n\n", i, i)
			f.Flush()
			if i < 2 {
				select {
				case <-app.sseStep:
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Second):
					return
				}
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = app.srv.Serve(ln) }()
	t.Cleanup(func() { _ = app.srv.Close() })
	app.url = "http://" + ln.Addr().String()
	return app
}

// sidecar is one `trustsync authbridge` process, run in this test process.
type sidecar struct {
	t     *testing.T
	name  string
	agent *sidecartest.Agent
	addrs authbridge.Addrs
	stop  func() error
	log   lockedBuffer
	// ready gets the addresses once the sidecar listens; exitErr is what its run
	// returned, set before it is seen as exited.
	ready   chan authbridge.Addrs
	exitErr error
}

// lockedBuffer is a sidecar's access log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newSidecar writes the files of id's sidecar in front of app, calling routesTo.
func (w *world) newSidecar(name string, id spiffeid.ID, app *agentApp, routesTo spiffeid.ID, mtls string, allowed ...spiffeid.ID) *sidecar {
	t := w.t
	a := &sidecartest.Agent{
		Dir: t.TempDir(), ClientID: id.String(), Secret: w.secrets[id], RoutesTo: routesTo.String(),
		Reverse: freeAddr(t), Forward: freeAddr(t), Transparent: freeAddr(t), Health: freeAddr(t), Stats: freeAddr(t),
		Backend: app.url, MTLS: mtls, SPIFFESocket: w.spire.SocketAddr(), Issuer: w.issuer, BundleServer: w.bundles, PollSeconds: 1,
	}
	for _, p := range allowed {
		a.AllowedPeers = append(a.AllowedPeers, p.String())
	}
	sc := &sidecar{t: t, name: name, agent: a}
	sc.write()
	return sc
}

func (sc *sidecar) write() {
	if err := sc.agent.Write(); err != nil {
		sc.t.Fatal(err)
	}
}

// start runs the sidecar until stop (or the test's end), and returns once it listens.
func (sc *sidecar) start() {
	t := sc.t
	exited := sc.run()
	select {
	case sc.addrs = <-sc.ready:
	case <-exited:
		t.Fatalf("%s did not start: %v", sc.name, sc.exitErr)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within 60 s", sc.name)
	}
}

// run starts the sidecar until stop (or the test's end) and returns at once; the
// channel is closed when it exits, with exitErr set.
func (sc *sidecar) run() <-chan struct{} {
	t := sc.t
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	sc.ready = make(chan authbridge.Addrs, 1)
	go func() {
		defer close(exited)
		sc.exitErr = authbridge.Run(ctx, authbridge.Options{
			ConfigPath: sc.agent.ConfigPath(), StateDir: sc.agent.StateDir(), Log: scan.Logger(func(line string) { t.Log(line) }).WithName(sc.name), AccessLog: io.MultiWriter(&sc.log, scan.Writer("access log")),
			Drain: 100 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
			Ready: func(a authbridge.Addrs) { sc.ready <- a },
		})
	}()
	var once sync.Once
	var err error
	sc.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
				err = sc.exitErr
			case <-time.After(30 * time.Second):
				err = errors.New("did not stop within 30 s")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := sc.stop(); err != nil {
			t.Errorf("%s: %v", sc.name, err)
		}
	})
	return exited
}

// via is an HTTP client of the agent's app: every request goes through the sidecar's
// forward proxy, as HTTP_PROXY makes it.
func (sc *sidecar) via() *http.Client {
	proxyURL, _ := url.Parse("http://" + sc.addrs.Forward)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: false}}
}

// as is an mTLS client presenting id's SVID to the sidecar, as a peer sidecar would.
func (w *world) as(id spiffeid.ID) *http.Client {
	src := w.sources[id]
	cfg := tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeMemberOf(w.spire.TrustDomain()))
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
	}}
}

type reply struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, c *http.Client, method, u, token, body string) (reply, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
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
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}, nil
}

func mustDo(t *testing.T, c *http.Client, method, u, token, body string) reply {
	t.Helper()
	r, err := do(t, c, method, u, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

func errorCode(body string) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error
}

// TestSidecarsEndToEnd runs two agents, each behind its own `trustsync authbridge`,
// with every part real: SPIRE's SVIDs, trustsync's bundle server on a real API server,
// a real OIDC provider issuing and exchanging tokens.
func TestSidecarsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	appA, appB := startApp(t), startApp(t)

	a := w.newSidecar("sidecar-a", w.a, appA, w.b, "strict")
	b := w.newSidecar("sidecar-b", w.b, appB, w.a, "strict", w.a)
	// The sidecars start before the bundle server: they have no policy yet.
	a.start()
	b.start()
	tokA, tokB := w.token(w.a), w.token(w.b)
	toB := "http://" + b.addrs.Reverse

	t.Run("before the first bundle: 503 and not ready", func(t *testing.T) {
		r := mustDo(t, a.via(), "GET", toB+"/hello", tokA, "")
		if r.status != http.StatusServiceUnavailable || errorCode(r.body) != "upstream.unreachable" {
			t.Errorf("A→B before any bundle: %d %s, want 503 upstream.unreachable", r.status, r.body)
		}
		if err := getOK("http://" + b.addrs.Health + "/readyz"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "opa") {
			t.Errorf("B's /readyz before any bundle: %v, want 503 naming opa", err)
		}
	})

	w.startBundleServer()
	waitfor.NoError(t, "A ready", func() error { return getOK("http://" + a.addrs.Health + "/readyz") })
	waitfor.NoError(t, "B ready", func() error { return getOK("http://" + b.addrs.Health + "/readyz") })

	t.Run("A→B allowed, B receives a token exchanged for B", func(t *testing.T) {
		r := mustDo(t, a.via(), "GET", toB+"/hello", tokA, "")
		if r.status != http.StatusOK || r.body != `{"hello":"world"}` {
			t.Fatalf("A→B: %d %s", r.status, r.body)
		}
		auth := appB.lastAuth.Load()
		if auth == nil || !strings.HasPrefix(*auth, "Bearer ") || strings.TrimPrefix(*auth, "Bearer ") == tokA {
			t.Fatalf("B's app got Authorization %v, want an exchanged bearer token", auth)
		}
		claims, err := keycloaktest.VerifyAccessToken(ctx, w.issuer, strings.TrimPrefix(*auth, "Bearer "))
		if err != nil {
			t.Fatalf("the token B received does not verify: %v", err)
		}
		if !slices.Contains(claims.Audience, w.b.String()) {
			t.Errorf("B's token aud = %v, want %s", claims.Audience, w.b)
		}
	})

	t.Run("B→A denied by A's inbound policy", func(t *testing.T) {
		r := mustDo(t, b.via(), "GET", "http://"+a.addrs.Reverse+"/hello", tokB, "")
		if r.status != http.StatusForbidden || errorCode(r.body) != "policy.forbidden" {
			t.Errorf("B→A: %d %s, want 403 policy.forbidden", r.status, r.body)
		}
	})

	t.Run("no token and wrong audience are 401 at B", func(t *testing.T) {
		asA := w.as(w.a)
		r := mustDo(t, asA, "GET", toB+"/hello", "", "")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "missing Authorization header") || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("no token: %d %s %v", r.status, r.body, r.header)
		}
		r = mustDo(t, asA, "GET", toB+"/hello", tokA, "") // aud A, not B
		if r.status != http.StatusUnauthorized || errorCode(r.body) != "auth.unauthorized" {
			t.Errorf("wrong audience: %d %s", r.status, r.body)
		}
		if strings.Contains(r.body, tokA) {
			t.Error("the 401 body carries the token")
		}
		r = mustDo(t, a.via(), "GET", toB+"/hello", "", "")
		if r.status != http.StatusUnauthorized {
			t.Errorf("A's app with no token, through A (no_token_policy deny): %d %s", r.status, r.body)
		}
	})

	t.Run("strict refuses plaintext, and a peer outside the allowlist at the handshake", func(t *testing.T) {
		if r, err := do(t, &http.Client{Timeout: 5 * time.Second}, "GET", toB+"/hello", tokA, ""); err == nil {
			t.Errorf("plaintext to strict B answered %d %s", r.status, r.body)
		}
		if r, err := do(t, w.as(w.c), "GET", toB+"/hello", w.token(w.c), ""); err == nil {
			t.Errorf("C (a member of the trust domain, not in B's allowlist) got %d %s", r.status, r.body)
		}
	})

	t.Run("an outbound MCP tools/call denied is JSON-RPC -32000", func(t *testing.T) {
		r := mustDo(t, a.via(), "POST", toB+"/mcp", tokA, `{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"forbidden_tool","arguments":{}}}`)
		var rpc struct {
			ID    string `json:"id"`
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.body), &rpc); err != nil || r.status != http.StatusOK || rpc.ID != "call-7" || rpc.Error.Code != -32000 {
			t.Errorf("denied tools/call: %d %s", r.status, r.body)
		}
		r = mustDo(t, a.via(), "POST", toB+"/mcp", tokA, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"weather","arguments":{}}}`)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"result"`) {
			t.Errorf("allowed tools/call: %d %s", r.status, r.body)
		}
	})

	t.Run("an SSE response streams through both sidecars and is decided", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, "GET", toB+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := a.via().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("SSE: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		rd := bufio.NewReader(resp.Body)
		for i := range 3 {
			ev := readEvent(t, rd)
			if !strings.Contains(ev, fmt.Sprintf(`data: {"n":%d}`, i)) || !strings.Contains(ev, "event: tick") {
				t.Fatalf("event %d: %q", i, ev)
			}
			// The app sends the next event only now: the first arrived while the stream was
			// open, so it was streamed, not buffered.
			if i < 2 {
				appB.sseStep <- struct{}{}
			}
		}
		r := mustDo(t, a.via(), "GET", toB+"/classified", tokA, "")
		if r.status != http.StatusForbidden || strings.Contains(r.body, "secret plans") {
			t.Errorf("a response B's inbound/response policy refuses: %d %q", r.status, r.body)
		}
	})

	t.Run("a config reload swaps the pipeline without dropping connections", func(t *testing.T) {
		asA := w.as(w.a)
		conns := 0
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
			}
		}}
		get := func() reply {
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", toB+"/public/x", nil)
			resp, err := asA.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return reply{status: resp.StatusCode, body: string(body)}
		}
		if r := get(); r.status != http.StatusUnauthorized {
			t.Fatalf("before the reload: %d %s", r.status, r.body)
		}
		b.agent.BypassPaths = []string{"/public/*"}
		b.write()
		waitfor.True(t, "B's reload", func() bool {
			var st authbridge.ReloadStatus
			resp, err := http.Get("http://" + b.addrs.Stats + "/reload/status")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			_ = json.NewDecoder(resp.Body).Decode(&st)
			return st.ReloadsOK == 1
		})
		// jwt-validation now lets /public through; B's policy still wants A's identity.
		if r := get(); r.status != http.StatusForbidden || errorCode(r.body) != "policy.forbidden" {
			t.Errorf("after the reload: %d %s, want 403 from opa (jwt-validation bypassed)", r.status, r.body)
		}
		if conns != 1 {
			t.Errorf("%d connections for the two requests, want 1 (kept across the reload)", conns)
		}
	})

	t.Run("a policy changed in the API server reaches the sidecar", func(t *testing.T) {
		p := &agentv1.AuthorizationPolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: "agent-b"}, p); err != nil {
			t.Fatal(err)
		}
		for i := range p.Spec.Policies {
			if p.Spec.Policies[i].Path == "inbound/request.rego" {
				p.Spec.Policies[i].Content = strings.Replace(p.Spec.Policies[i].Content, "allow if {", "allow if {\n\tinput.path != \"/closed\"", 1)
			}
		}
		if err := env.Client.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		waitfor.True(t, "the changed policy at B", func() bool {
			return mustDo(t, a.via(), "GET", toB+"/closed", tokA, "").status == http.StatusForbidden
		})
		if r := mustDo(t, a.via(), "GET", toB+"/hello", tokA, ""); r.status != http.StatusOK {
			t.Errorf("after the change, /hello: %d %s", r.status, r.body)
		}
	})

	t.Run("upstream's bundle-service over plain HTTP, when configured so", func(t *testing.T) {
		// C's sidecar fetches from a fake of upstream's bundle-service; its client tier
		// admits C's own client, then nobody.
		rule := func(body string) map[string]string {
			files := map[string]string{"client/inbound/request.rego": "package authbridge.client.inbound.request\n\ndefault allow := false\n" + body}
			for _, f := range policy.DefaultGlobalPolicy(gitopsv1.DefaultPlatformNamespace, false).Spec.Policies {
				files["global/"+f.Path] = f.Content
			}
			return files
		}
		up := &sidecartest.UpstreamBundles{ID: w.c.String()}
		up.Set(rule("\nallow if input.identity.client_id == \"" + w.c.String() + "\"\n"))
		hs := httptest.NewServer(up)
		defer hs.Close()
		c := w.newSidecar("sidecar-c", w.c, startApp(t), w.a, "")
		c.agent.BundleServer, c.agent.UpstreamBundles = strings.TrimPrefix(hs.URL, "http://"), true
		c.write()
		c.start()
		waitfor.NoError(t, "C ready from upstream's bundle", func() error { return getOK("http://" + c.addrs.Health + "/readyz") })
		toC, tokC := "http://"+c.addrs.Reverse+"/hello", w.token(w.c)
		if r := mustDo(t, &http.Client{Timeout: 5 * time.Second}, "GET", toC, tokC, ""); r.status != http.StatusOK {
			t.Fatalf("C's own client, admitted by the upstream bundle: %d %s", r.status, r.body)
		}
		waitfor.True(t, "C revalidates the upstream bundle", func() bool { return up.Answers(http.StatusNotModified) > 0 })
		up.Set(rule(""))
		waitfor.NoError(t, "the changed upstream bundle denies", func() error {
			if r := mustDo(t, &http.Client{Timeout: 5 * time.Second}, "GET", toC, tokC, ""); r.status != http.StatusForbidden {
				return fmt.Errorf("%d %s, want 403", r.status, r.body)
			}
			return nil
		})
	})

	t.Run("metrics", func(t *testing.T) {
		// The loopback stats server and the health listener Prometheus scrapes serve
		// the same counters; only the stats server shows the configuration.
		if err := getOK("http://" + a.addrs.Health + "/config"); err == nil {
			t.Error("the health listener serves /config")
		}
		resp, err := http.Get("http://" + a.addrs.Health + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{"trustsync_sidecar_requests_total", "trustsync_sidecar_policy_decisions_total", "trustsync_sidecar_token_exchanges_total", "trustsync_sidecar_mtls_connections_total", "trustsync_sidecar_bundle_active_info"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(string(body), tokA) || strings.Contains(string(body), w.secrets[w.a]) {
			t.Error("/metrics carries a token or secret")
		}
		// Both of A's opa entries count into the one series set: B→A was denied
		// inbound, A's calls allowed outbound.
		for _, series := range []string{`trustsync_sidecar_policy_decisions_total{point="inbound/request",result="deny"} `, `trustsync_sidecar_policy_decisions_total{point="outbound/request",result="allow"} `} {
			i := strings.Index(string(body), series)
			if i < 0 || strings.HasPrefix(string(body[i+len(series):]), "0\n") {
				t.Errorf("%s is absent or 0", series)
			}
		}
		for _, sc := range []*sidecar{a, b} {
			log := sc.log.String()
			if !strings.Contains(log, `"listener":"forward"`) && !strings.Contains(log, `"listener":"reverse"`) {
				t.Errorf("%s's access log has no exchanges: %q", sc.name, log)
			}
			for _, secret := range []string{tokA, tokB, w.secrets[w.a], w.secrets[w.b], "Bearer"} {
				if strings.Contains(log, secret) {
					t.Errorf("%s's access log carries a token or secret", sc.name)
				}
			}
		}
	})
}

// readEvent reads one SSE event (up to its blank line).
func readEvent(t *testing.T, rd *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (so far %q)", err, b.String())
		}
		if line == "\n" || line == "\r\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}
