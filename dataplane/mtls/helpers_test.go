package mtls_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

const (
	serverPath = "/ns/x/sa/y"
	clientPath = "/ns/x/sa/client"
	otherPath  = "/ns/x/sa/other"
)

var (
	td      = spiffeid.RequireTrustDomainFromString("td")
	foreign = spiffeid.RequireTrustDomainFromString("foreign")
)

func idIn(d spiffeid.TrustDomain, path string) spiffeid.ID { return spiffeid.RequireFromPath(d, path) }

// source is a static mtls.Source: an SVID and a bundle set, whose bundles a test may swap
// (x509bundle.Set is safe for concurrent use).
type source struct {
	*x509svid.SVID
	*x509bundle.Set
}

func newSource(svid *x509svid.SVID, bundles ...*x509bundle.Bundle) source {
	return source{SVID: svid, Set: x509bundle.NewSet(bundles...)}
}

// metered is a Metrics with its own registry, so a test reads exactly its counters.
type metered struct {
	*mtls.Metrics
	reg *prometheus.Registry
}

func newMetered(t testing.TB) metered {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := mtls.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return metered{Metrics: m, reg: reg}
}

// counts is every series of the connections counter, keyed "direction/result".
func (m metered) counts(t testing.TB) map[string]float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "trustsync_sidecar_mtls_connections_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var dir, res string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "direction":
					dir = l.GetValue()
				case "result":
					res = l.GetValue()
				}
			}
			out[dir+"/"+res] = s.GetCounter().GetValue()
		}
	}
	return out
}

// waitCounts polls until the counters named in want have those values and all others are
// zero (server-side results land asynchronously to the client's view).
func (m metered) waitCounts(t testing.TB, want map[string]float64) {
	t.Helper()
	var last map[string]float64
	match := func() bool {
		last = m.counts(t)
		for k, v := range last {
			if want[k] != v {
				return false
			}
		}
		for k := range want {
			if _, ok := last[k]; !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !match() {
		if time.Now().After(deadline) {
			t.Fatalf("counters: got %v, want %v (others zero)", nonZero(last), want)
		}
		time.Sleep(waitfor.Interval)
	}
}

func nonZero(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// peerHandler answers with the SPIFFE ID the request's TLS state names, or "plain".
var peerHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		_, _ = io.WriteString(w, "plain")
		return
	}
	id, ok := mtls.PeerID(r.TLS)
	if !ok {
		_, _ = io.WriteString(w, "tls without a peer ID")
		return
	}
	_, _ = io.WriteString(w, id.String())
})

// serve runs an http.Server with peerHandler on mtls.Listen over a fresh 127.0.0.1 port
// and returns the address.
func serve(t testing.TB, mode sidecarconfig.MTLSMode, cfg *tls.Config, o mtls.ListenOptions) string {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := mtls.Listen(inner, mode, cfg, o)
	srv := &http.Server{Handler: peerHandler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop within 10 s")
		}
	})
	return l.Addr().String()
}

// mtlsClient is an HTTP client speaking HTTP/1.1 over mtls.Dialer's TLS to http:// URLs,
// as the sidecar's outbound side.
func mtlsClient(cfg *tls.Config, m *mtls.Metrics, keepAlive bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:       mtls.Dialer(cfg, 5*time.Second, m),
		DisableKeepAlives: !keepAlive,
		ForceAttemptHTTP2: false,
	}}
}

func plainClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// result is what one GET saw: the body (the server's view of us) and the TLS state of the
// connection (our view of the server).
type result struct {
	body string
	tls  *tls.ConnectionState
}

func get(c *http.Client, addr string) (result, error) {
	var res result
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if tc, ok := info.Conn.(*tls.Conn); ok {
			cs := tc.ConnectionState()
			res.tls = &cs
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return res, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	res.body = string(body)
	return res, nil
}

// pki is a trust domain's CA, a foreign trust domain's CA, and a second CA of the trust
// domain (a rotation's successor, or a stranger's).
type pki struct {
	ca, foreignCA, otherCA *x509test.Cert
}

func newPKI(t testing.TB) pki {
	t.Helper()
	return pki{
		ca:        x509test.NewSPIFFECA(t, "td"),
		foreignCA: x509test.NewSPIFFECA(t, "foreign"),
		otherCA:   x509test.NewSPIFFECA(t, "td"),
	}
}

func svid(t testing.TB, ca *x509test.Cert, id spiffeid.ID) *x509svid.SVID {
	t.Helper()
	return ca.SVID(t, id.String(), x509test.Options{})
}
