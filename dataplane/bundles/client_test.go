package bundles

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/sidecartest"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/security/policy/bundleserver"
)

const (
	platformNS = "trustsync-system"
	sidecarID  = "spiffe://example.org/ns/team-b/sa/planner-agent"
	teamBPeer  = "spiffe://example.org/ns/team-b/sa/calendar-tool"
	outsider   = "spiffe://example.org/ns/team-a/sa/research-agent"
	serverID   = "spiffe://example.org" + "/ns/trustsync-system/sa/trustsync-bundle-server"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

var inboundRequest = policy.Points[0]

func clientPolicy(generation int64, content string) *agentv1.AuthorizationPolicy {
	return &agentv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "planner-agent", Generation: generation},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{
			Path: "inbound/request.rego", Content: "package authbridge.client.inbound.request\n\ndefault allow := false\n\n" + content,
		}}},
	}
}

// onlyTeamB admits callers of team-b; onlyOutsider admits research-agent only.
var (
	onlyTeamB    = clientPolicy(1, `allow if startswith(input.identity.client_id, "spiffe://example.org/ns/team-b/")`+"\n")
	onlyOutsider = clientPolicy(2, `allow if input.identity.client_id == "`+outsider+`"`+"\n")
)

// fixture is the real bundle server behind mutual TLS, counting its answers.
type fixture struct {
	ca  *x509test.Cert
	ix  *bundleserver.Index
	hs  *httptest.Server
	url string

	mu         sync.Mutex
	answers    map[int]int // status code → count
	revalidate int         // requests with If-None-Match
}

func newFixture(t *testing.T, presentedID string) *fixture {
	t.Helper()
	f := &fixture{ca: x509test.NewSPIFFECA(t, td.Name()), ix: bundleserver.NewIndex(platformNS), answers: map[int]int{}}
	f.ix.Upsert(policy.DefaultGlobalPolicy(platformNS, false))
	f.ix.Upsert(onlyTeamB)
	f.ix.MarkSynced()
	srv := bundleserver.New(f.ix, bundleserver.Options{TrustDomain: td})
	f.hs = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		srv.ServeHTTP(rec, r)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.answers[rec.code]++
		if r.Header.Get("If-None-Match") != "" {
			f.revalidate++
		}
	}))
	serverSVID := f.ca.SVID(t, presentedID, x509test.Options{})
	// Not StartTLS: it would add httptest's own certificate (see bundleserver's tests).
	f.hs.Listener = tls.NewListener(f.hs.Listener, bundleserver.TLSConfig(serverSVID, f.ca.Bundle(td.Name()), td))
	f.hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	f.hs.Start()
	t.Cleanup(f.hs.Close)
	f.url = strings.Replace(f.hs.URL, "http://", "https://", 1)
	return f
}

func (f *fixture) count(code int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answers[code]
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// options are a sidecar's of id, presenting an SVID of svidID, polling every 20–40 ms.
func (f *fixture) options(t *testing.T, id, svidID, dir string) Options {
	return Options{
		BundleURL: f.url, ID: spiffeid.RequireFromString(id),
		SVID: f.ca.SVID(t, svidID, x509test.Options{}), Bundles: f.ca.Bundle(td.Name()),
		PollingMinDelay: 20 * time.Millisecond, PollingMaxDelay: 40 * time.Millisecond,
		Dir: dir, Timeout: 5 * time.Second, Registerer: prometheus.NewRegistry(),
	}
}

// run runs c until the test ends, and checks Run returns then.
func run(t *testing.T, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// allows is the sidecar's inbound decision for a caller.
func allows(c *Client, caller string) bool {
	call := policy.Call{Caller: policy.Party{ID: caller}, Callee: policy.Party{ID: sidecarID}}
	return decide(c, call.Input(inboundRequest)).Allow
}

// decide is c's inbound request decision on input.
func decide(c *Client, input map[string]any) policy.Decision {
	return c.DecideInput(context.Background(), inboundRequest, func(policy.Fields) (ast.Value, error) { return ast.InterfaceToValue(input) })
}

func fetches(c *Client, result string) int {
	return int(testutil.ToFloat64(c.metrics.fetches.WithLabelValues(result)))
}

func TestFetchUpdateRevalidateAndOutage(t *testing.T) {
	f := newFixture(t, serverID)
	dir := t.TempDir()
	c := newClient(t, f.options(t, sidecarID, sidecarID, dir))
	if c.Ready() || allows(c, teamBPeer) {
		t.Fatal("ready, or allowing, before any bundle")
	}
	run(t, c)

	// The first fetch makes it ready, and it decides as the policies say.
	waitfor.True(t, "the first bundle", c.Ready)
	if !allows(c, teamBPeer) || allows(c, outsider) {
		t.Fatalf("team-b peer allowed %v, outsider allowed %v; want true, false", allows(c, teamBPeer), allows(c, outsider))
	}
	first := c.Revision()
	if got := testutil.ToFloat64(c.metrics.revision.WithLabelValues(first)); got != 1 {
		t.Errorf("trustsync_sidecar_bundle_active_info{revision=%s} = %v, want 1", first, got)
	}

	// Unchanged: the next polls revalidate and get 304, and nothing is fetched again.
	waitfor.True(t, "304s on unchanged policies", func() bool { return f.count(http.StatusNotModified) >= 3 && fetches(c, resultNotModified) >= 3 })
	if n := f.count(http.StatusOK); n != 1 {
		t.Errorf("the server sent the bundle %d times for one revision, want 1", n)
	}
	f.mu.Lock()
	revalidated := f.revalidate
	f.mu.Unlock()
	if revalidated < 3 {
		t.Errorf("%d requests carried If-None-Match, want every one after the first", revalidated)
	}

	// A policy change reaches the client on a next poll.
	f.ix.Upsert(onlyOutsider)
	waitfor.True(t, "the changed policy", func() bool { return c.Revision() != first })
	if allows(c, teamBPeer) || !allows(c, outsider) {
		t.Fatalf("after the change: team-b peer allowed %v, outsider allowed %v; want false, true", allows(c, teamBPeer), allows(c, outsider))
	}
	if fetches(c, resultUpdated) != 2 {
		t.Errorf("%d updates, want 2", fetches(c, resultUpdated))
	}
	if got := testutil.CollectAndCount(c.metrics.revision); got != 1 {
		t.Errorf("%d active revisions in the info gauge, want 1", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, PersistedFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("persisted bundle: %v, mode %v; want mode 0600", err, fi)
	}

	// The server stops: checks fail, decisions continue from the last bundle.
	errorsBefore := fetches(c, resultError)
	f.hs.CloseClientConnections()
	f.hs.Close()
	waitfor.True(t, "failed checks with the server down", func() bool { return fetches(c, resultError) >= errorsBefore+3 })
	if !c.Ready() || allows(c, teamBPeer) || !allows(c, outsider) {
		t.Fatal("the last bundle stopped deciding while the server is down")
	}

	// A sidecar restarted while the server is down decides at once from disk.
	restarted := newClient(t, f.options(t, sidecarID, sidecarID, dir))
	if !restarted.Ready() || restarted.Revision() != c.Revision() || allows(restarted, teamBPeer) || !allows(restarted, outsider) {
		t.Fatalf("restarted client: ready %v, revision %q (want %q)", restarted.Ready(), restarted.Revision(), c.Revision())
	}
}

func TestPersistedBundleIsIgnoredWhenNotGood(t *testing.T) {
	f := newFixture(t, serverID)
	dir := t.TempDir()
	c := newClient(t, f.options(t, sidecarID, sidecarID, dir))
	if err := c.Poll(context.Background()); err != nil || !c.Ready() {
		t.Fatalf("first poll: %v", err)
	}
	good, err := os.ReadFile(filepath.Join(dir, PersistedFile))
	if err != nil {
		t.Fatal(err)
	}
	f.hs.Close() // the restarted sidecars find the server down

	tests := []struct {
		name string
		id   string
		file []byte
	}{
		{"corrupt file", sidecarID, good[:len(good)/2]},
		{"corrupt archive", sidecarID, []byte(strings.Replace(string(good), `"archive":"H4sI`, `"archive":"H4sJ`, 1))},
		{"another identity's bundle", teamBPeer, good},
		{"not JSON", sidecarID, []byte("\x1f\x8b garbage")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, PersistedFile), tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			r := newClient(t, f.options(t, tt.id, tt.id, d))
			if r.Ready() {
				t.Fatal("ready from a persisted bundle that is not good")
			}
			dec := decide(r, map[string]any{})
			if dec.Allow || !strings.Contains(dec.Reason, "fail closed") {
				t.Errorf("decision %v, want a fail-closed deny", dec)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Run("a server presenting another SPIFFE ID", func(t *testing.T) {
		f := newFixture(t, "spiffe://example.org/ns/team-x/sa/impostor")
		c := newClient(t, f.options(t, sidecarID, sidecarID, ""))
		err := c.Poll(context.Background())
		if err == nil || c.Ready() || !strings.Contains(err.Error(), serverID) {
			t.Fatalf("poll: %v, ready %v; want an error naming the expected server ID %s", err, c.Ready(), serverID)
		}
		if f.count(http.StatusOK) != 0 || fetches(c, resultError) != 1 {
			t.Errorf("%d bundles served, %d errors counted; want 0 and 1", f.count(http.StatusOK), fetches(c, resultError))
		}
	})
	t.Run("another identity's bundle", func(t *testing.T) {
		f := newFixture(t, serverID)
		// The SVID is calendar-tool's; the client asks for planner-agent's bundle.
		c := newClient(t, f.options(t, sidecarID, teamBPeer, ""))
		run(t, c)
		waitfor.True(t, "403s", func() bool { return f.count(http.StatusForbidden) >= 2 && fetches(c, resultError) >= 2 })
		if c.Ready() || allows(c, teamBPeer) {
			t.Fatal("ready, or allowing, without its own bundle")
		}
		if err := c.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("poll: %v, want the 403", err)
		}
	})
}

func TestOptionsAreChecked(t *testing.T) {
	ca := x509test.NewSPIFFECA(t, td.Name())
	base := Options{ID: spiffeid.RequireFromString(sidecarID), SVID: ca.SVID(t, sidecarID, x509test.Options{}), Bundles: ca.Bundle(td.Name())}
	c := newClient(t, base)
	if c.opts.ServerID.String() != serverID || c.opts.PollingMinDelay != DefaultPollingMinDelay || c.opts.PollingMaxDelay != DefaultPollingMaxDelay ||
		c.bundleURL != "https://trustsync-bundle-server.trustsync-system.svc:8443/bundles?spiffe=example.org%2Fns%2Fteam-b%2Fsa%2Fplanner-agent" {
		t.Errorf("defaults: server %s, delays %s–%s, URL %s", c.opts.ServerID, c.opts.PollingMinDelay, c.opts.PollingMaxDelay, c.bundleURL)
	}
	for name, tt := range map[string]struct {
		change func(*Options)
		want   string
	}{
		"no ID":              {func(o *Options) { o.ID = spiffeid.ID{} }, "Options.ID"},
		"not a workload ID":  {func(o *Options) { o.ID = spiffeid.RequireFromString("spiffe://example.org/agent") }, "Options.ID"},
		"no SVID":            {func(o *Options) { o.SVID = nil }, "Options.SVID"},
		"plain HTTP":         {func(o *Options) { o.BundleURL = "http://bundles:8080" }, "want https"},
		"credentials in URL": {func(o *Options) { o.BundleURL = "https://u:p@bundles:8443" }, "without credentials"},
		"min over max":       {func(o *Options) { o.PollingMinDelay, o.PollingMaxDelay = time.Minute, time.Second }, "more than PollingMaxDelay"},
	} {
		o := base
		tt.change(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tt.want)
		}
	}
}

func TestBackoffIsBounded(t *testing.T) {
	maxDelay := 3 * time.Second
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, maxDelay, maxDelay}
	for i, w := range want {
		if got := nextDelay(i+1, time.Second, maxDelay); got != w {
			t.Errorf("after %d failures: %s, want %s", i+1, got, w)
		}
	}
	if got := nextDelay(1000, time.Second, maxDelay); got != maxDelay {
		t.Errorf("after 1000 failures: %s, want the cap %s", got, maxDelay)
	}
	for range 100 {
		if got := nextDelay(0, time.Second, maxDelay); got < time.Second || got > maxDelay {
			t.Fatalf("after a success: %s, outside [1s, 3s]", got)
		}
	}
}

// TestRefusedBundleKeepsTheWorkingOne: a bundle the sidecar cannot read (here: a file
// over its limits.policySize) never replaces the active one, is counted on every poll
// and logged once.
func TestRefusedBundleKeepsTheWorkingOne(t *testing.T) {
	f := newFixture(t, serverID)
	o := f.options(t, sidecarID, sidecarID, t.TempDir())
	o.Limits.PolicySize = resource.NewQuantity(8<<10, resource.BinarySI)
	var logMu sync.Mutex
	var refusedLogs int
	o.Log = funcr.New(func(prefix, args string) {
		if strings.Contains(args, "refused a policy bundle") {
			logMu.Lock()
			refusedLogs++
			logMu.Unlock()
		}
	}, funcr.Options{})
	c := newClient(t, o)
	run(t, c)
	waitfor.True(t, "the first bundle", c.Ready)
	first := c.Revision()

	f.ix.Upsert(clientPolicy(3, "allow := true\n# "+strings.Repeat("x", 9<<10)+"\n"))
	waitfor.True(t, "refused fetches", func() bool { return fetches(c, resultRefused) >= 3 })
	if c.Revision() != first || !allows(c, teamBPeer) || allows(c, outsider) {
		t.Fatalf("the refused bundle took over: revision %s (was %s)", c.Revision(), first)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if refusedLogs != 1 {
		t.Errorf("the refused bundle was logged %d times, want once", refusedLogs)
	}
}

func TestMetricsAreRegistered(t *testing.T) {
	f := newFixture(t, serverID)
	o := f.options(t, sidecarID, sidecarID, "")
	reg := o.Registerer.(*prometheus.Registry)
	c := newClient(t, o)
	if err := c.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "trustsync_sidecar_bundle_fetches_total", "trustsync_sidecar_bundle_active_info", "trustsync_sidecar_bundle_last_success_age_seconds"); err != nil || n != 6 {
		t.Errorf("%d series (err %v), want 4 fetch results, 1 revision and the age", n, err)
	}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "registering the metrics") {
		t.Errorf("a second client on the same registry: %v, want a registration error", err)
	}
}

// TestUpstreamBundleService: configured for upstream's bundle-service, the client fetches
// its plain-HTTP bundles without an SVID, revalidates them, follows a change, and decides
// from the persisted one after a restart while the service is down.
func TestUpstreamBundleService(t *testing.T) {
	files := func(client *agentv1.AuthorizationPolicy) map[string]string {
		m := map[string]string{"client/inbound/request.rego": client.Spec.Policies[0].Content}
		for _, f := range policy.DefaultGlobalPolicy(platformNS, false).Spec.Policies {
			m["global/"+f.Path] = f.Content
		}
		return m
	}
	u := &sidecartest.UpstreamBundles{ID: sidecarID}
	u.Set(files(onlyTeamB))
	hs := httptest.NewServer(u)
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	o := Options{BundleURL: hs.URL, Upstream: true, ID: spiffeid.RequireFromString(sidecarID),
		PollingMinDelay: 20 * time.Millisecond, PollingMaxDelay: 40 * time.Millisecond, Dir: dir, Timeout: 5 * time.Second, Registerer: prometheus.NewRegistry()}
	c := newClient(t, o)
	run(t, c)
	waitfor.True(t, "the upstream bundle is active", c.Ready)
	if !allows(c, teamBPeer) || allows(c, outsider) {
		t.Fatal("the upstream bundle does not decide as its policies say")
	}
	waitfor.True(t, "the bundle is revalidated", func() bool { return u.Answers(http.StatusNotModified) > 0 })
	u.Set(files(onlyOutsider))
	waitfor.True(t, "the changed bundle decides", func() bool { return allows(c, outsider) && !allows(c, teamBPeer) })

	hs.Close()
	o.Registerer = prometheus.NewRegistry()
	restarted := newClient(t, o)
	if !restarted.Ready() || !allows(restarted, outsider) || allows(restarted, teamBPeer) {
		t.Error("after a restart with the service down, the persisted upstream bundle does not decide")
	}
	if _, err := New(Options{BundleURL: "ftp://bundles", Upstream: true, ID: o.ID}); err == nil || !strings.Contains(err.Error(), "http or https") {
		t.Errorf("an ftp URL: %v", err)
	}
}
