// P9: the latency and throughput the two AuthBridge sidecars add to one call.
//
// One call: the caller (as its app, through HTTP_PROXY) → caller sidecar (outbound:
// token exchange from its cache, mcp-parser, OPA) → mutual TLS with SPIRE's SVIDs →
// callee sidecar (inbound: JWT validation, OPA) → callee app. Everything is real and on
// loopback: `trustsync authbridge` twice in this process, SPIRE, the OIDC provider of
// internal/keycloaktest, trustsync's bundle server over mutual TLS.
//
// Baselines in the same run: the same request straight to the callee app (no
// sidecars), and through two plain httputil.ReverseProxy hops (the floor a Go proxy
// can reach). added = path − direct; ratio = trustsync's added p50 / the bare hops'.
// Rounds of each path are interleaved so that machine noise falls on all three.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/internal/app/authbridge"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/sidecartest"
	"github.com/trustsync/trustsync/internal/spiretest"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/security/policy/bundleserver"
)

const platformNS = "trustsync-system"

var mtlsMode *string

func main() {
	requests := flag.Int("requests", 4000, "sequential requests per path (in rounds)")
	rounds := flag.Int("rounds", 8, "interleaved rounds")
	workers := flag.Int("workers", 16, "concurrent clients of the throughput run")
	seconds := flag.Float64("seconds", 3, "length of each path's throughput run")
	mtlsMode = flag.String("mtls", "strict", "the sidecars' mtls.mode (strict, permissive; the callee's policy wants the caller's SVID, so strict)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			benchutil.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			benchutil.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *requests, *rounds, *workers, time.Duration(*seconds*float64(time.Second))); err != nil {
		benchutil.Fatal(err)
	}
}

func run(ctx context.Context, requests, rounds, workers int, span time.Duration) error {
	spire, err := spiretest.Start(ctx, spiretest.Options{TrustDomain: "example.org"})
	if err != nil {
		return err
	}
	defer func() { _ = spire.Stop() }()
	serverID, a, b := spire.ID("/ns/trustsync-system/sa/trustsync-bundle-server"), spire.ID("/ns/team-a/sa/agent-a"), spire.ID("/ns/team-b/sa/agent-b")
	for _, id := range []spiffeid.ID{serverID, a, b} {
		if err := spire.AddWorkload(ctx, id); err != nil {
			return err
		}
	}
	bundles, stopBundles, err := serveBundles(ctx, spire, serverID, a, b)
	if err != nil {
		return err
	}
	defer stopBundles()

	kc, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		return err
	}
	defer kc.Close()
	issuer := kc.Issuer(sidecartest.Realm)
	secrets, err := sidecartest.RegisterClients(ctx, kc, a.String(), b.String())
	if err != nil {
		return err
	}
	app, err := serveApp()
	if err != nil {
		return err
	}
	defer app.Close()

	dir, err := os.MkdirTemp("", "p9-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	agent := func(name string, id, to spiffeid.ID, backend string, allowed ...string) (*sidecartest.Agent, error) {
		ag := &sidecartest.Agent{Dir: dir + "/" + name, ClientID: id.String(), Secret: secrets[id.String()], RoutesTo: to.String(),
			Backend: backend, MTLS: *mtlsMode, AllowedPeers: allowed, SPIFFESocket: spire.SocketAddr(), Issuer: issuer, BundleServer: bundles}
		for _, p := range []*string{&ag.Reverse, &ag.Forward, &ag.Transparent, &ag.Health, &ag.Stats} {
			if *p, err = httpservertest.FreeAddr(); err != nil {
				return nil, err
			}
		}
		return ag, ag.Write()
	}
	// The caller's own reverse side fronts nothing this benchmark calls.
	callee, err := agent("callee", b, a, app.URL, a.String())
	if err != nil {
		return err
	}
	caller, err := agent("caller", a, b, app.URL)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	var callerAddrs authbridge.Addrs
	for _, ag := range []*sidecartest.Agent{callee, caller} {
		ready := make(chan authbridge.Addrs, 1)
		errc := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- authbridge.Run(runCtx, authbridge.Options{ConfigPath: ag.ConfigPath(), StateDir: ag.StateDir(), AccessLog: io.Discard, Log: logr.Discard(), Ready: func(x authbridge.Addrs) { ready <- x }})
		}()
		select {
		case addrs := <-ready:
			if ag == caller {
				callerAddrs = addrs
			}
		case err := <-errc:
			return fmt.Errorf("sidecar %s: %v", ag.Dir, err)
		}
		if err := waitReady("http://" + ag.Health + "/readyz"); err != nil {
			return err
		}
	}

	token, err := keycloaktest.ClientCredentials(ctx, issuer, a.String(), secrets[a.String()])
	if err != nil {
		return err
	}
	proxyURL, _ := url.Parse("http://" + callerAddrs.Forward)
	viaSidecars := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), MaxIdleConnsPerHost: 64}}
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	bare, stopBare, err := twoReverseProxies(app.URL)
	if err != nil {
		return err
	}
	defer stopBare()

	paths := []*path{
		{name: "direct", client: direct, url: app.URL + "/call"},
		{name: "sidecars", client: viaSidecars, url: "http://" + callee.Reverse + "/call", token: token},
		{name: "bare", client: direct, url: bare + "/call"},
	}
	for _, p := range paths {
		// Warm up: connections, the exchanged token's cache, the verified token's cache.
		for range 200 {
			if err := p.call(); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	per := max(requests/rounds, 1)
	for range rounds {
		for _, p := range paths {
			for range per {
				start := time.Now()
				if err := p.call(); err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
				p.times = append(p.times, time.Since(start))
			}
		}
	}
	for _, p := range paths {
		n, err := throughput(p, workers, span)
		if err != nil {
			return fmt.Errorf("%s throughput: %w", p.name, err)
		}
		p.rps = float64(n) / span.Seconds()
	}
	for _, ag := range []*sidecartest.Agent{caller, callee} {
		fmt.Printf("%s: %s\n", ag.Dir, metricLines("http://"+ag.Stats+"/metrics", "trustsync_sidecar_mtls_connections_total", "trustsync_sidecar_token_exchanges_total", "trustsync_sidecar_jwt_validations_total", "trustsync_sidecar_policy_decisions_total", "trustsync_sidecar_policy_decision_seconds_sum", "trustsync_sidecar_policy_decision_seconds_count", "trustsync_sidecar_added_latency_seconds_sum", "trustsync_sidecar_added_latency_seconds_count"))
	}
	d, s, br := paths[0], paths[1], paths[2]
	d50, d99 := pct(d.times, 50), pct(d.times, 99)
	s50, s99 := pct(s.times, 50), pct(s.times, 99)
	b50, b99 := pct(br.times, 50), pct(br.times, 99)
	added50, added99 := s50-d50, s99-d99
	bare50, bare99 := b50-d50, b99-d99
	fmt.Printf("direct p50 %v p99 %v %.0f req/s; two sidecars p50 %v p99 %v %.0f req/s; two httputil.ReverseProxy hops p50 %v p99 %v %.0f req/s (%d requests each, %d workers for throughput)\n",
		d50, d99, d.rps, s50, s99, s.rps, b50, b99, br.rps, len(d.times), workers)
	benchutil.Result("P9",
		"added_p50_us", us(added50), "added_p99_us", us(added99), "rps", fmt.Sprintf("%.0f", s.rps),
		"direct_p50_us", us(d50), "direct_rps", fmt.Sprintf("%.0f", d.rps),
		"bare_added_p50_us", us(bare50), "bare_added_p99_us", us(bare99), "bare_rps", fmt.Sprintf("%.0f", br.rps),
		"ratio", fmt.Sprintf("%.2f", float64(added50)/float64(max(bare50, time.Microsecond))),
	)
	return nil
}

type path struct {
	name, url, token string
	client           *http.Client
	times            []time.Duration
	rps              float64
}

func (p *path) call() error {
	req, err := http.NewRequest(http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != int64(len(payload)) {
		return fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
	}
	return nil
}

func throughput(p *path, workers int, span time.Duration) (int, error) {
	deadline := time.Now().Add(span)
	var mu sync.Mutex
	total := 0
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for time.Now().Before(deadline) {
				if err := p.call(); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total, first
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*p/100]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000) }

// payload is the callee's answer: 1 KiB, as the Istio benchmarks send.
var payload = strings.Repeat("x", 1024)

type appServer struct {
	URL string
	srv *http.Server
}

func (a *appServer) Close() { _ = a.srv.Close() }

func serveApp() (*appServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, payload)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &appServer{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// twoReverseProxies chains two httputil.ReverseProxy hops in front of backend.
func twoReverseProxies(backend string) (string, func(), error) {
	var servers []*http.Server
	next := backend
	for range 2 {
		u, _ := url.Parse(next)
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		servers = append(servers, srv)
		next = "http://" + ln.Addr().String()
	}
	return next, func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}, nil
}

// serveBundles serves trustsync's bundle server over mutual TLS with the server's SVID:
// the default global policy, and client policies letting A call B.
func serveBundles(ctx context.Context, spire *spiretest.Server, serverID, a, b spiffeid.ID) (string, func(), error) {
	src, err := spire.X509Source(ctx, serverID)
	if err != nil {
		return "", nil, err
	}
	ix := bundleserver.NewIndex(platformNS)
	ix.Upsert(policy.DefaultGlobalPolicy(platformNS, false))
	ix.Upsert(&agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "agent-b"}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient,
		Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: "package authbridge.client.inbound.request\n\ndefault allow := false\n\nallow if {\n\tinput.identity.client_id == \"" + a.String() + "\"\n\tinput.peer.spiffe_id == \"" + a.String() + "\"\n}\n"}}}})
	ix.Upsert(&agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "agent-a"}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient,
		Policies: []agentv1.RegoPolicy{{Path: "outbound/request.rego", Content: "package authbridge.client.outbound.request\n\ndefault allow := false\n\nallow if input.identity.client_id == \"" + b.String() + "\"\n"}}}})
	ix.MarkSynced()
	srv := &http.Server{Handler: bundleserver.New(ix, bundleserver.Options{TrustDomain: spire.TrustDomain()}), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeMemberOf(spire.TrustDomain()))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	return ln.Addr().String(), func() { _ = srv.Close(); _ = src.Close() }, nil
}

func waitReady(u string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricLines are the non-zero samples of the named metrics at u.
func metricLines(u string, names ...string) string {
	resp, err := http.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		for _, n := range names {
			if (strings.HasPrefix(l, n+"{") || strings.HasPrefix(l, n+" ")) && !strings.HasSuffix(l, " 0") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "; ")
}
