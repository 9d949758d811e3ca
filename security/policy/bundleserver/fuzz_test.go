package bundleserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
)

// FuzzRequest gives the bundle server arbitrary request targets, methods, If-None-Match
// headers and client SPIFFE IDs, as any workload with an SVID can send them. Whatever
// the request, the server answers without panicking, serves a bundle only to the
// identity it belongs to, and never answers 5xx but for a bundle it could not build.
func FuzzRequest(f *testing.F) {
	for _, s := range []struct{ method, target, ifNoneMatch, caller string }{
		{"GET", "/bundles?spiffe=" + trim(idA), "", idA},
		{"GET", "/bundles?spiffe=" + trim(idB), `W/"x", *`, idB},
		{"HEAD", "/bundles?spiffe=" + trim(idA), "", idB},
		{"GET", "/bundles?spiffe=example.org/ns/../sa/x", "", idA},
		{"POST", "/bundles", "", idA},
		{"GET", "/bundles?spiffe=%zz&spiffe=a", "", "spiffe://example.org"},
		{"GET", "/readyz", "", ""},
	} {
		f.Add(s.method, s.target, s.ifNoneMatch, s.caller)
	}
	ix := NewIndex(platformNS)
	ix.Upsert(policy.DefaultGlobalPolicy(platformNS, false))
	ix.Upsert(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n"))
	ix.MarkSynced()
	srv := New(ix, Options{TrustDomain: td})
	f.Fuzz(func(t *testing.T, method, target, ifNoneMatch, caller string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !validMethod(method) {
			return // net/http refuses these before any handler
		}
		req := &http.Request{Method: method, URL: u, RequestURI: target, Header: http.Header{}, Host: "bundles"}
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		var id *url.URL
		if caller != "" {
			if id, err = url.Parse(caller); err != nil {
				return
			}
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{URIs: []*url.URL{id}}}}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s as %q: %d %s", method, target, caller, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && u.Path == "/bundles" {
			want, err := identity.Parse(u.Query().Get("spiffe"))
			if err != nil || id == nil || want.String() != id.String() {
				t.Fatalf("served the bundle of %q to %q", u.Query().Get("spiffe"), caller)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == ',' || c == '/' || c == ':' || c == ';' || c == '"' {
			return false
		}
	}
	return true
}
