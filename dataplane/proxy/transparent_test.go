package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
)

// transparentAt serves the transparent listener on loopback; every accepted
// connection's original destination is dst (the fake SO_ORIGINAL_DST).
func transparentAt(t testing.TB, f *proxy.Forward, dst string, self ...netip.AddrPort) (addr string, dstCalls *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dstCalls = &atomic.Int32{}
	d := netip.MustParseAddrPort(ln.Addr().String())
	if dst != "self" {
		d = netip.MustParseAddrPort(dst)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- proxy.ServeTransparent(ctx, ln, proxy.TransparentOptions{
			Forward: f,
			OriginalDst: func(net.Conn) (netip.AddrPort, error) {
				dstCalls.Add(1)
				return d, nil
			},
			Self: append(self, netip.MustParseAddrPort(ln.Addr().String())),
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("ServeTransparent: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("ServeTransparent did not return after its context ended")
		}
	})
	return ln.Addr().String(), dstCalls
}

func forwardFor(t testing.TB, outs *outcomes, plugins ...pipeline.Plugin) *proxy.Forward {
	t.Helper()
	o := proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, plugins...), SkipHosts: []string{"**.skipped.example", "skipped"}}
	if outs != nil {
		o.OnDone = outs.done
	}
	f, err := proxy.NewForward(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// clientTo is an HTTP client whose every connection goes to addr, whatever the URL.
func clientTo(addr string) (*http.Client, *http.Transport) {
	tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}, tr
}

// expectClosed checks that conn is closed without a byte.
func expectClosed(t testing.TB, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 64)
	n, err := conn.Read(b)
	if n != 0 || !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read %d bytes %q, %v; want the connection closed without a byte", n, b[:n], err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestTransparentHTTPGoesToOriginalDestination(t *testing.T) {
	be, last, hits := backend(t, nil)
	var policyHost atomic.Value
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		policyHost.Store(r.Host)
		if strings.HasPrefix(r.Host, "blocked.example") {
			return pipeline.Denied(pipeline.CodeForbidden, "blocked")
		}
		return nil
	}}
	outs := &outcomes{}
	addr, _ := transparentAt(t, forwardFor(t, outs, gate), strings.TrimPrefix(be.URL, "http://"))

	// The Host header names an allowed host; the connection was to the backend, and
	// the backend is where the request goes.
	client, tr := clientTo(addr)
	resp, err := client.Get("http://allowed.example/path")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); resp.StatusCode != 200 || got != "from the agent" {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
	resp.Body.Close()
	if hits.Load() != 1 || last.Load().host != "allowed.example" || last.Load().path != "/path" {
		t.Errorf("backend hits %d, saw %+v", hits.Load(), last.Load())
	}
	if got := policyHost.Load(); got != "allowed.example" {
		t.Errorf("policy host %v", got)
	}
	// A second request on the same connection goes to the destination too.
	resp, err = client.Get("http://other.example/again")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 2 || last.Load().path != "/again" {
		t.Errorf("second request: hits %d", hits.Load())
	}
	tr.CloseIdleConnections()
	o := outs.byHost(t, 2, "other.example")
	if o.Listener != "transparent" || o.Scheme != "http" || o.Status != 200 {
		t.Errorf("outcome %+v", o)
	}

	// Skip hosts never apply here: the pipeline runs for a skipped name.
	resp, err = client.Get("http://x.skipped.example/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	if got := policyHost.Load(); got != "x.skipped.example" {
		t.Errorf("the pipeline did not run for a skip host on the transparent listener (saw %v)", got)
	}

	// Denied: closed without a byte.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n")
	expectClosed(t, conn)
	if hits.Load() != 3 {
		t.Errorf("the denied request reached the backend")
	}
	if o := outs.byHost(t, 4, "blocked.example"); o.Denied != pipeline.CodeForbidden || o.Status != 0 {
		t.Errorf("outcome %+v", o)
	}
}

func TestTransparentTLSUsesSNI(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tls through")
	}))
	defer tlsBackend.Close()
	dst := strings.TrimPrefix(tlsBackend.URL, "https://")
	_, port, _ := net.SplitHostPort(dst)
	var mu sync.Mutex
	var saw []pipeline.Request
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		mu.Lock()
		saw = append(saw, *r)
		mu.Unlock()
		if strings.HasPrefix(r.Host, "blocked.example:") {
			return pipeline.Denied(pipeline.CodeForbidden, "blocked")
		}
		return nil
	}}
	outs := &outcomes{}
	addr, _ := transparentAt(t, forwardFor(t, outs, gate), dst)
	roots := x509.NewCertPool()
	roots.AddCert(tlsBackend.Certificate())

	// httptest's certificate is for example.com: the SNI is the policy host, the
	// bytes go to the destination.
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "example.com", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); got != "tls through" {
		t.Fatalf("body %q", got)
	}
	conn.Close()
	mu.Lock()
	first := saw[0]
	mu.Unlock()
	if first.Method != "CONNECT" || first.Scheme != "tcp" || first.Host != "example.com:"+port || first.Path != "" {
		t.Errorf("the pipeline saw %s %s %s %q", first.Method, first.Scheme, first.Host, first.Path)
	}
	if o := outs.wait(t, 1); o.Listener != "transparent" || o.BytesIn == 0 || o.BytesOut == 0 || o.Status != 0 {
		t.Errorf("outcome %+v", o)
	}

	// A denied SNI: closed without a byte (the handshake fails).
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{ServerName: "blocked.example", RootCAs: roots})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Fatal("the handshake of a denied connection succeeded")
	}
	if o := outs.byHost(t, 2, "blocked.example:"+port); o.Denied != pipeline.CodeForbidden {
		t.Errorf("outcome %+v", o)
	}
}

func TestTransparentOtherBytesTunnelToDestination(t *testing.T) {
	echo := echoServer(t)
	var host atomic.Value
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		host.Store(r.Host)
		return nil
	}}
	outs := &outcomes{}
	addr, _ := transparentAt(t, forwardFor(t, outs, gate), echo)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "\x00\x01binary protocol\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "\x00\x01binary protocol\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	if got := host.Load(); got != echo {
		t.Errorf("policy host %v, want the destination %s", got, echo)
	}
	conn.Close()
	if o := outs.wait(t, 1); o.Method != "CONNECT" || o.BytesIn != 18 || o.BytesOut != 18 {
		t.Errorf("outcome %+v", o)
	}
}

func TestTransparentRefusesLoop(t *testing.T) {
	var ran atomic.Int32
	gate := &reqPlugin{name: "opa", f: func(*pipeline.Request) *pipeline.Deny { ran.Add(1); return nil }}
	outs := &outcomes{}
	addr, calls := transparentAt(t, forwardFor(t, outs, gate), "self")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expectClosed(t, conn)
	if calls.Load() != 1 || ran.Load() != 0 || len(outs.all()) != 0 {
		t.Fatalf("dst lookups %d, pipeline runs %d, outcomes %d", calls.Load(), ran.Load(), len(outs.all()))
	}
}

func TestTransparentLoopOnWildcardSelf(t *testing.T) {
	// A listener bound to 0.0.0.0:P is reached at 127.0.0.1:P.
	echo := echoServer(t)
	_, port, _ := net.SplitHostPort(echo)
	outs := &outcomes{}
	addr, _ := transparentAt(t, forwardFor(t, outs, &reqPlugin{name: "a", f: allow}), echo, netip.MustParseAddrPort("0.0.0.0:"+port))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "hello\n")
	expectClosed(t, conn)
}

func TestServeTransparentRefuses(t *testing.T) {
	f := forwardFor(t, nil, &reqPlugin{name: "a", f: allow})
	for _, tc := range []struct {
		name string
		o    proxy.TransparentOptions
		want string
	}{
		{"no forward", proxy.TransparentOptions{OriginalDst: func(net.Conn) (netip.AddrPort, error) { return netip.AddrPort{}, nil }}, "no forward"},
		{"no original dst", proxy.TransparentOptions{Forward: f}, "original-destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proxy.ServeTransparent(context.Background(), nil, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTransparentOriginalDstFailureCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- proxy.ServeTransparent(ctx, ln, proxy.TransparentOptions{
			Forward:     forwardFor(t, nil, &reqPlugin{name: "a", f: allow}),
			OriginalDst: func(net.Conn) (netip.AddrPort, error) { return netip.AddrPort{}, errors.New("not redirected") },
		})
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expectClosed(t, conn)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
