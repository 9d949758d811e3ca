package bundleserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/policy"
)

const platformNS = "trustsync-system"

var td = spiffeid.RequireTrustDomainFromString("example.org")

func newCA(t *testing.T) *x509test.Cert { return x509test.NewSPIFFECA(t, td.Name()) }

func svid(t *testing.T, ca *x509test.Cert, id string) *x509svid.SVID {
	return ca.SVID(t, id, x509test.Options{})
}

func ap(ns, name string, scope agentv1.PolicyScope, path, content string) *agentv1.AuthorizationPolicy {
	return &agentv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec:       agentv1.AuthorizationPolicySpec{Scope: scope, Policies: []agentv1.RegoPolicy{{Path: path, Content: content}}},
	}
}

const (
	idA = "spiffe://example.org/ns/team-a/sa/research-agent"
	idB = "spiffe://example.org/ns/team-b/sa/planner-agent"
	idC = "spiffe://example.org/ns/team-b/sa/calendar-tool"
)

// fixture is a bundle server behind mutual TLS, with clients for some identities.
type fixture struct {
	ix     *Index
	srv    *Server
	url    string
	ca     *x509test.Cert
	client map[string]*http.Client
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	ca := newCA(t)
	ix := NewIndex(platformNS)
	ix.Upsert(policy.DefaultGlobalPolicy(platformNS, false))
	ix.Upsert(ap("team-b", "team-b", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\ndefault allow := false\nallow if startswith(input.identity.client_id, \"spiffe://example.org/ns/team-b/\")\n"))
	ix.Upsert(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n"))
	ix.MarkSynced()
	o.TrustDomain = td
	srv := New(ix, o)
	hs := httptest.NewUnstartedServer(srv)
	serverSVID := svid(t, ca, "spiffe://example.org/ns/trustsync-system/sa/bundle-server")
	// Not StartTLS: it would add httptest's own certificate, which Go prefers over
	// GetCertificate when the client sends no SNI (an IP address).
	hs.Listener = tls.NewListener(hs.Listener, TLSConfig(serverSVID, ca.Bundle(td.Name()), td))
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	hs.Start()
	t.Cleanup(hs.Close)
	f := &fixture{ix: ix, srv: srv, url: strings.Replace(hs.URL, "http://", "https://", 1), ca: ca, client: map[string]*http.Client{}}
	for _, id := range []string{idA, idB, idC} {
		f.client[id] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: tlsconfig.MTLSClientConfig(svid(t, ca, id), ca.Bundle(td.Name()), tlsconfig.AuthorizeID(serverSVID.ID)),
		}}
	}
	return f
}

func (f *fixture) get(t *testing.T, as, spiffe, etag string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.url+"/bundles?spiffe="+url.QueryEscape(spiffe), nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := f.client[as].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func trim(id string) string { return strings.TrimPrefix(id, "spiffe://") }

func TestServeOwnBundle(t *testing.T) {
	f := newFixture(t, Options{})
	resp, body := f.get(t, idB, trim(idB), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
		t.Errorf("content type %q", ct)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"sha256:`) || resp.Header.Get("Cache-Control") != "max-age=0, must-revalidate" {
		t.Errorf("etag %q cache-control %q", etag, resp.Header.Get("Cache-Control"))
	}
	b, err := bundle.NewReader(bytes.NewReader(body)).Read()
	if err != nil {
		t.Fatalf("OPA cannot read the bundle: %v", err)
	}
	if "\"sha256:"+b.Manifest.Revision+"\"" != etag {
		t.Errorf("manifest revision %q does not match the ETag %q", b.Manifest.Revision, etag)
	}
	var client bool
	for _, m := range b.Modules {
		client = client || m.Path == "/authbridge/client/inbound/request.rego"
	}
	if !client {
		t.Error("planner-agent's bundle lacks its client policy")
	}

	// The same bundle again: 304, no body, no build.
	builds := f.srv.Builds()
	resp, body = f.get(t, idB, idB, etag) // the spiffe:// prefix is accepted too
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("with If-None-Match: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if f.srv.Builds() != builds {
		t.Error("a current bundle was built again")
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name, as, query string
		code            int
		body            string
	}{
		{"someone else's bundle", idA, trim(idB), http.StatusForbidden, "only its own bundle"},
		{"missing identity", idA, "", http.StatusBadRequest, "missing query parameter"},
		{"not a workload ID", idA, "example.org/agent/x", http.StatusBadRequest, "not a workload ID"},
		{"a foreign trust domain", idA, "other.org/ns/team-a/sa/research-agent", http.StatusForbidden, "not served here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.url+"/bundles", nil)
			if tt.query != "" {
				req.URL.RawQuery = "spiffe=" + url.QueryEscape(tt.query)
			}
			resp, err := f.client[tt.as].Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.body) {
				t.Errorf("status %d %q, want %d containing %q", resp.StatusCode, body, tt.code, tt.body)
			}
		})
	}

	t.Run("no client certificate: the handshake fails", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(f.ca.Cert)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, InsecureSkipVerify: true}}} //nolint:gosec // the point is the missing client certificate
		resp, err := c.Get(f.url + "/bundles?spiffe=" + trim(idA))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("served without a client certificate: %d", resp.StatusCode)
		}
	})

	t.Run("a certificate from another CA: the handshake fails", func(t *testing.T) {
		other := newCA(t)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: tlsconfig.MTLSClientConfig(svid(t, other, idA), f.ca.Bundle(td.Name()), tlsconfig.AuthorizeAny()),
		}}
		resp, err := c.Get(f.url + "/bundles?spiffe=" + trim(idA))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("served to a foreign CA's SVID: %d", resp.StatusCode)
		}
	})

	t.Run("not synced: 503", func(t *testing.T) {
		ix := NewIndex(platformNS)
		srv := New(ix, Options{TrustDomain: td})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/bundles?spiffe="+trim(idA), nil)
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{svid(t, f.ca, idA).Certificates[0]}}
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d", rec.Code)
		}
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("readyz %d before sync", rec.Code)
		}
	})

	t.Run("over the size limit: 413", func(t *testing.T) {
		small := newFixture(t, Options{MaxBundleSize: 100})
		resp, body := small.get(t, idB, trim(idB), "")
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d %s", resp.StatusCode, body)
		}
	})
}

// TestInvalidation: a global change rebuilds every bundle, a namespace change that
// namespace's, a client change that client's, and a status-only update none.
func TestInvalidation(t *testing.T) {
	f := newFixture(t, Options{})
	etags := map[string]string{}
	fetchAll := func() map[string]bool {
		changed := map[string]bool{}
		for _, id := range []string{idA, idB, idC} {
			resp, body := f.get(t, id, trim(id), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", id, resp.StatusCode, body)
			}
			e := resp.Header.Get("ETag")
			changed[id] = etags[id] != "" && etags[id] != e
			etags[id] = e
		}
		return changed
	}
	fetchAll()
	steps := []struct {
		name    string
		change  func()
		rebuilt []string
	}{
		{"client policy of planner-agent", func() {
			f.ix.Upsert(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := false\n"))
		}, []string{idB}},
		{"namespace policy of team-b", func() {
			f.ix.Upsert(ap("team-b", "team-b", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\nallow := true\n"))
		}, []string{idB, idC}},
		{"status only", func() {
			p := ap("team-b", "team-b", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\nallow := true\n")
			p.Status.BundleHash = "sha256:x"
			f.ix.Upsert(p)
		}, nil},
		{"global policy", func() {
			g := policy.DefaultGlobalPolicy(platformNS, true)
			f.ix.Upsert(g)
		}, []string{idA, idB, idC}},
		{"a global policy outside the platform namespace counts for nothing", func() {
			f.ix.Upsert(policy.DefaultGlobalPolicy("team-a", false))
		}, nil},
		{"client policy deleted", func() {
			f.ix.Delete(types.NamespacedName{Namespace: "team-b", Name: "planner-agent"})
		}, []string{idB}},
	}
	for _, s := range steps {
		before := f.srv.Builds()
		s.change()
		changed := fetchAll()
		var got []string
		for _, id := range []string{idA, idB, idC} {
			if changed[id] {
				got = append(got, id)
			}
		}
		if strings.Join(got, ",") != strings.Join(s.rebuilt, ",") {
			t.Errorf("%s: bundles changed %v, want %v", s.name, got, s.rebuilt)
		}
		if builds := f.srv.Builds() - before; builds != int64(len(s.rebuilt)) {
			t.Errorf("%s: %d builds, want %d", s.name, builds, len(s.rebuilt))
		}
	}
}

// modules lists the Rego files of a served bundle.
func modules(t *testing.T, archive []byte) []string {
	t.Helper()
	b, err := bundle.NewReader(bytes.NewReader(archive)).Read()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range b.Modules {
		out = append(out, m.Path)
	}
	return out
}

// TestBrokenPoliciesFallBackSafely: a change that does not build never replaces what
// worked with something unsafe. The broken tier falls back to its last good version, but
// the platform's global tier always applies as it is now, and with nothing that builds
// the identity is served a bundle that denies everything.
func TestBrokenPoliciesFallBackSafely(t *testing.T) {
	f := newFixture(t, Options{})
	resp, good := f.get(t, idB, trim(idB), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trustsync-Bundle") != "current" {
		t.Fatal(resp.Status, resp.Header)
	}
	etag := resp.Header.Get("ETag")

	// 1. A client policy that does not compile: the last good client tier, same bytes.
	broken := "package authbridge.client.inbound.request\ndefault allow := false\ndefault allow := true\n"
	f.ix.Upsert(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", broken))
	for range 3 {
		resp, body := f.get(t, idB, trim(idB), "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != etag || !bytes.Equal(body, good) || resp.Header.Get("X-Trustsync-Bundle") != "fallback" {
			t.Fatalf("after a broken client policy: %d %s %s, want the last good bundle %s", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("X-Trustsync-Bundle"), etag)
		}
	}

	// 2. A global change still applies to planner-agent, broken client tier or not.
	strict := policy.DefaultGlobalPolicy(platformNS, true)
	f.ix.Upsert(strict)
	resp, body := f.get(t, idB, trim(idB), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag || resp.Header.Get("X-Trustsync-Bundle") != "fallback" {
		t.Fatalf("after a global change: %d %s %s, want a new fallback bundle", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("X-Trustsync-Bundle"))
	}
	b, err := bundle.NewReader(bytes.NewReader(body)).Read()
	if err != nil {
		t.Fatal(err)
	}
	var global string
	for _, m := range b.Modules {
		if m.Path == "/authbridge/global/default/inbound/request.rego" {
			global = string(m.Raw)
		}
	}
	if global != strict.Spec.Policies[0].Content {
		t.Errorf("the served global tier is not the current one:\n%s", global)
	}

	// 3. A namespace policy added only to conflict with the tier cannot freeze team-b's
	// bundles against later global changes either.
	if resp, _ = f.get(t, idC, trim(idC), ""); resp.Header.Get("X-Trustsync-Bundle") != "current" {
		t.Fatalf("calendar-tool before the freeze: %s", resp.Header.Get("X-Trustsync-Bundle"))
	}
	f.ix.Upsert(ap("team-b", "zz-freeze", agentv1.ScopeNamespace, "x.rego", "package authbridge.ns.inbound.request\ndefault allow := true\n"))
	resp, _ = f.get(t, idC, trim(idC), "")
	frozen := resp.Header.Get("ETag")
	if resp.Header.Get("X-Trustsync-Bundle") != "fallback" {
		t.Fatalf("calendar-tool with a conflicting namespace tier: %s, want fallback", resp.Header.Get("X-Trustsync-Bundle"))
	}
	f.ix.Upsert(policy.DefaultGlobalPolicy(platformNS, false))
	if resp, _ = f.get(t, idC, trim(idC), ""); resp.Header.Get("ETag") == frozen {
		t.Error("a conflicting namespace policy held back a global change")
	}

	// 4. An identity with nothing that ever built is denied everything.
	f.ix.Upsert(ap("team-c", "solo", agentv1.ScopeClient, "inbound/request.rego", broken))
	f.ix.Upsert(ap("team-c", "team-c", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\ndefault allow := false\ndefault allow := true\n"))
	f.ix.Upsert(ap(platformNS, "zz-broken-global", agentv1.ScopeGlobal, "inbound/request.rego", "package authbridge.inbound.request\ndefault allow := false\n"))
	resp, body = f.get(t, idB, trim(idB), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trustsync-Bundle") != "fail-closed" {
		t.Fatalf("nothing builds: %d %s, want a fail-closed bundle", resp.StatusCode, resp.Header.Get("X-Trustsync-Bundle"))
	}
	for _, m := range modules(t, body) {
		if !strings.HasPrefix(m, "/authbridge/trustsync/failclosed/") {
			t.Errorf("a fail-closed bundle holds %s", m)
		}
	}

	// 5. Fixed: the current policies again.
	f.ix.Delete(types.NamespacedName{Namespace: platformNS, Name: "zz-broken-global"})
	f.ix.Upsert(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\ndefault allow := false\n"))
	f.ix.Delete(types.NamespacedName{Namespace: "team-b", Name: "zz-freeze"})
	if resp, _ = f.get(t, idB, trim(idB), ""); resp.Header.Get("X-Trustsync-Bundle") != "current" {
		t.Errorf("fixed: %s, want current", resp.Header.Get("X-Trustsync-Bundle"))
	}
}

func TestOneBuildForConcurrentRequests(t *testing.T) {
	f := newFixture(t, Options{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			resp, _ := f.get(t, idB, trim(idB), "")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	// Concurrent first requests share one build (singleflight); a request that comes
	// after it finished finds the cached bundle.
	if n := f.srv.Builds(); n != 1 {
		t.Errorf("%d builds for one identity, want 1", n)
	}
}
