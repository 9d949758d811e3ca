package bundleserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	appbundleserver "github.com/trustsync/trustsync/internal/app/bundleserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/spiretest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/security/policy"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := httpservertest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestBundleServerWithSPIRE runs the bundle server as trustsync bundle-server does,
// against a real API server, with X.509-SVIDs that a real SPIRE issues to the server and
// to two workloads: each gets its own bundle (and 304 for the same ETag), not the
// other's; no client certificate, no bundle; a policy changed in the cluster reaches the
// bundle, and a broken one does not replace it.
func TestBundleServerWithSPIRE(t *testing.T) {
	spire := spiretest.Run(t, spiretest.Options{TrustDomain: "example.org"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	serverID := spire.ID("/ns/trustsync-system/sa/bundle-server")
	a := spire.ID("/ns/team-a/sa/research-agent")
	b := spire.ID("/ns/team-b/sa/planner-agent")
	for _, id := range []spiffeid.ID{serverID, a, b} {
		if err := spire.AddWorkload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	sources := map[spiffeid.ID]*workloadapi.X509Source{}
	for _, id := range []spiffeid.ID{serverID, a, b} {
		src, err := spire.X509Source(ctx, id)
		if err != nil {
			t.Fatalf("SVID for %s: %v", id, err)
		}
		t.Cleanup(func() { src.Close() })
		sources[id] = src
	}

	c := env.Client
	for _, ns := range []string{"team-a", "team-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	global := policy.DefaultGlobalPolicy(gitopsv1.DefaultPlatformNamespace, false)
	planner := &agentv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "planner-agent"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego",
			Content: "package authbridge.client.inbound.request\n\ndefault allow := false\n\nallow if input.identity.client_id == \"" + a.String() + "\"\n"}}},
	}
	for _, p := range []*agentv1.AuthorizationPolicy{global, planner} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	addr, probe := freeAddr(t), freeAddr(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- appbundleserver.Run(runCtx, env.Config, appbundleserver.Options{
			Addr: addr, ProbeAddr: probe, PlatformNamespace: gitopsv1.DefaultPlatformNamespace,
			TrustDomain: spire.TrustDomain(), SVID: sources[serverID], Bundles: sources[serverID],
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("bundle server: %v", err)
		}
	})
	waitReady(t, ctx, "http://"+probe+"/readyz")

	clientFor := func(id spiffeid.ID) *http.Client {
		src := sources[id]
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(serverID))}}
	}
	get := func(as *http.Client, want spiffeid.ID, etag string) (int, string, int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/bundles?spiffe="+strings.TrimPrefix(want.String(), "spiffe://"), nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := as.Do(req)
		if err != nil {
			t.Fatalf("GET as %v: %v", want, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("ETag"), len(body)
	}

	code, etag, n := get(clientFor(b), b, "")
	if code != http.StatusOK || etag == "" || n == 0 {
		t.Fatalf("own bundle: %d etag=%q %d bytes", code, etag, n)
	}
	if code, _, _ := get(clientFor(b), b, etag); code != http.StatusNotModified {
		t.Errorf("same ETag: %d, want 304", code)
	}
	if code, _, _ := get(clientFor(a), b, ""); code != http.StatusForbidden {
		t.Errorf("research-agent asking for planner-agent's bundle: %d, want 403", code)
	}
	if code, _, _ := get(clientFor(a), a, ""); code != http.StatusOK {
		t.Errorf("research-agent's own bundle: %d", code)
	}
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the client certificate is what is missing
	if resp, err := noCert.Get("https://" + addr + "/bundles?spiffe=" + strings.TrimPrefix(b.String(), "spiffe://")); err == nil {
		resp.Body.Close()
		t.Errorf("served without a client certificate: %d", resp.StatusCode)
	}

	// A change in the cluster reaches the bundle through the informer.
	changed := planner.DeepCopy()
	changed.Spec.Policies[0].Content += "\nallow if input.identity.client_id == \"spiffe://example.org/ns/team-b/sa/calendar-tool\"\n"
	if err := c.Update(ctx, changed); err != nil {
		t.Fatal(err)
	}
	newETag := eventually(t, ctx, func() (string, bool) {
		_, e, _ := get(clientFor(b), b, "")
		return e, e != etag
	})
	// A broken policy (no admission webhook here to stop it) never replaces it.
	broken := &agentv1.AuthorizationPolicy{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: "planner-agent"}, broken); err != nil {
		t.Fatal(err)
	}
	broken.Spec.Policies[0].Content = "package authbridge.client.inbound.request\n\ndefault allow := false\ndefault allow := true\n"
	if err := c.Update(ctx, broken); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // give the informer time to deliver the broken version
	if code, e, _ := get(clientFor(b), b, ""); code != http.StatusOK || e != newETag {
		t.Errorf("after a broken policy: %d etag %s, want 200 with the last good %s", code, e, newETag)
	}
}

func waitReady(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	eventually(t, ctx, func() (string, bool) {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error(), false
		}
		resp.Body.Close()
		return fmt.Sprint(resp.StatusCode), resp.StatusCode == http.StatusOK
	})
}

// eventually polls f every 100 ms until it says done, for at most 30 s.
func eventually(t *testing.T, ctx context.Context, f func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		v, ok := f()
		if ok {
			return v
		}
		last = v
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out; last: %s", last)
	return ""
}
