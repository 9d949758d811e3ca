package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/internal/x509test"
)

func newForward(t testing.TB, o proxy.ForwardOptions, outs *outcomes) (*proxy.Forward, *httptest.Server) {
	t.Helper()
	if outs != nil {
		o.OnDone = outs.done
	}
	f, err := proxy.NewForward(o)
	if err != nil {
		t.Fatal(err)
	}
	return f, serve(t, f)
}

func TestNewForwardRefuses(t *testing.T) {
	p := pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})
	for _, tc := range []struct {
		name string
		o    proxy.ForwardOptions
		want string
	}{
		{"no pipeline", proxy.ForwardOptions{}, "no outbound pipeline"},
		{"bad skip host", proxy.ForwardOptions{Pipeline: p, SkipHosts: []string{"ok.example", "[a-"}}, "skip_hosts[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := proxy.NewForward(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestForwardHTTP(t *testing.T) {
	be, last, hits := backend(t, nil)
	beURL, _ := url.Parse(be.URL)
	var policyHost string
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		policyHost = r.Host
		if r.Path == "/blocked" {
			return pipeline.Denied(pipeline.CodeForbidden, "blocked path")
		}
		r.Header.Set("Authorization", "Bearer exchanged")
		return nil
	}}
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, gate)}, outs)
	client := proxyClient(t, fwd.URL)

	resp, err := client.Get(be.URL + "/tools?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || readAll(t, resp.Body) != "from the agent" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp.Body.Close()
	if s := last.Load(); s.auth != "Bearer exchanged" || s.path != "/tools" || s.host != beURL.Host {
		t.Errorf("backend saw %+v", s)
	}
	if policyHost != beURL.Host {
		t.Errorf("policy host %q, want %q", policyHost, beURL.Host)
	}
	o := outs.wait(t, 1)
	if o.Listener != "forward" || o.Scheme != "http" || o.Host != beURL.Host || o.Path != "/tools" || o.Status != 200 {
		t.Errorf("outcome %+v", o)
	}

	resp, err = client.Get(be.URL + "/blocked")
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeError(t, resp.Body); resp.StatusCode != 403 || e.Error != pipeline.CodeForbidden {
		t.Errorf("status %d body %+v", resp.StatusCode, e)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("the backend was hit %d times, want 1", hits.Load())
	}
	fwd.Close()
	if n := len(outs.all()); n != 2 {
		t.Fatalf("%d outcomes, want 2", n)
	}
}

func TestForwardOriginFormRefused(t *testing.T) {
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, outs)
	resp, err := plainClient().Get(fwd.URL + "/not-absolute")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	fwd.Close()
	if o := outs.all(); len(o) != 1 || o[0].Built || o[0].Status != 400 {
		t.Fatalf("outcomes %+v, want one without a Request", o)
	}
}

func TestForwardMCPDenialIsJSONRPC(t *testing.T) {
	be, _, _ := backend(t, nil)
	mcp := &reqPlugin{name: "mcp-parser", body: true, f: func(r *pipeline.Request) *pipeline.Deny {
		var msg struct {
			ID     any    `json:"id"`
			Method string `json:"method"`
		}
		if json.Unmarshal(r.Body, &msg) == nil {
			r.MCP = &pipeline.MCP{Method: msg.Method, RPCID: msg.ID}
		}
		return nil
	}}
	opa := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		if r.MCP != nil && r.MCP.Method == "tools/call" {
			return pipeline.Denied(pipeline.CodeForbidden, "tool not allowed")
		}
		return nil
	}}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, mcp, opa)}, nil)
	resp, err := proxyClient(t, fwd.URL).Post(be.URL+"/mcp", "application/json",
		strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		JSONRPC string  `json:"jsonrpc"`
		ID      float64 `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct{ Error, Plugin string }
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got.JSONRPC != "2.0" || got.ID != 7 || got.Error.Code != -32000 ||
		got.Error.Message != "tool not allowed" || got.Error.Data.Error != pipeline.CodeForbidden || got.Error.Data.Plugin != "opa" {
		t.Fatalf("status %d, body %+v", resp.StatusCode, got)
	}
}

func TestForwardStripsHopByHop(t *testing.T) {
	be, last, _ := backend(t, nil)
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, nil)
	req, _ := http.NewRequest(http.MethodGet, be.URL+"/", nil)
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Connection", "X-Drop")
	req.Header.Set("X-Drop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Te", "deflate") // only "trailers" may go on
	req.Header.Set("X-Keep", "yes")
	resp, err := proxyClient(t, fwd.URL).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := last.Load().header
	for _, name := range []string{"Proxy-Authorization", "Proxy-Connection", "X-Drop", "Keep-Alive", "Te"} {
		if v := h.Get(name); v != "" {
			t.Errorf("the destination got %s: %q", name, v)
		}
	}
	if h.Get("X-Keep") != "yes" {
		t.Errorf("an end-to-end header was dropped")
	}
}

func TestForwardAddsNoAcceptEncoding(t *testing.T) {
	be, last, _ := backend(t, nil)
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(fwd.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET "+be.URL+"/ HTTP/1.1\r\nHost: "+strings.TrimPrefix(be.URL, "http://")+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v, ok := last.Load().header["Accept-Encoding"]; ok {
		t.Fatalf("the sidecar added Accept-Encoding %q", v)
	}
}

func TestForwardIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://"+deadAddr(t))
	t.Setenv("http_proxy", "http://"+deadAddr(t))
	t.Setenv("NO_PROXY", "")
	be, _, hits := backend(t, nil)
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, nil)
	resp, err := proxyClient(t, fwd.URL).Get(be.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || hits.Load() != 1 {
		t.Fatalf("status %d, hits %d: the forward proxy went through HTTP_PROXY", resp.StatusCode, hits.Load())
	}
}

func TestForwardDoesNotFollowRedirects(t *testing.T) {
	be, _, hits := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "followed")
	})
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, nil)
	resp, err := proxyClient(t, fwd.URL).Get(be.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Fatalf("status %d after %d backend hits, want the 302 itself", resp.StatusCode, hits.Load())
	}
}

func TestForwardBadGatewayAndLargeResponse(t *testing.T) {
	be, _, _ := backend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("r", pipeline.MaxBodyBytes+1))
	})
	reader := &respPlugin{name: "inference-parser", body: true, f: func(*pipeline.Request) *pipeline.Deny { return nil }}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, reader)}, nil)
	client := proxyClient(t, fwd.URL)
	for _, tc := range []struct {
		url, want string
	}{
		{"http://" + deadAddr(t) + "/", `{"error":"bad gateway"}` + "\n"},
		{be.URL, `{"error":"response body too large"}` + "\n"},
	} {
		resp, err := client.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp.Body); resp.StatusCode != 502 || got != tc.want {
			t.Errorf("%s: status %d body %q, want 502 %q", tc.url, resp.StatusCode, got, tc.want)
		}
		resp.Body.Close()
	}
}

func TestForwardResponseDenial(t *testing.T) {
	be, _, _ := backend(t, nil)
	gate := &respPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		return pipeline.Denied(pipeline.CodeForbidden, "response refused")
	}}
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, gate)}, outs)
	resp, err := proxyClient(t, fwd.URL).Get(be.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := decodeError(t, resp.Body); resp.StatusCode != 403 || e.Message != "response refused" {
		t.Fatalf("status %d body %+v", resp.StatusCode, e)
	}
	if o := outs.wait(t, 1); o.Denied != pipeline.CodeForbidden || o.Status != 403 {
		t.Errorf("outcome %+v", o)
	}
}

// tlsClientVia is a client of a TLS test server that reaches it through a forward proxy
// (CONNECT).
func tlsClientVia(t testing.TB, s *httptest.Server, proxyURL string) (*http.Client, *http.Transport) {
	t.Helper()
	u, _ := url.Parse(proxyURL)
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(u)
	return &http.Client{Transport: tr}, tr
}

func TestForwardConnect(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "tls echo: "+string(body))
	}))
	defer tlsBackend.Close()
	authority := strings.TrimPrefix(tlsBackend.URL, "https://")
	var gateSaw atomic.Pointer[pipeline.Request]
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		c := *r
		gateSaw.Store(&c)
		if strings.HasPrefix(r.Host, "localhost:") {
			return pipeline.Denied(pipeline.CodeForbidden, "not this host")
		}
		return nil
	}}
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, gate)}, outs)

	client, tr := tlsClientVia(t, tlsBackend, fwd.URL)
	resp, err := client.Post(tlsBackend.URL, "text/plain", strings.NewReader("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); got != "tls echo: ping" {
		t.Fatalf("through the tunnel: %q", got)
	}
	resp.Body.Close()
	if r := gateSaw.Load(); r.Method != "CONNECT" || r.Scheme != "tcp" || r.Host != authority || r.Path != "" {
		t.Errorf("the pipeline saw %s %s %s %q", r.Method, r.Scheme, r.Host, r.Path)
	}
	tr.CloseIdleConnections()
	o := outs.wait(t, 1)
	if o.Listener != "forward" || o.Method != "CONNECT" || o.Status != 0 || o.BytesIn == 0 || o.BytesOut == 0 {
		t.Errorf("outcome %+v", o)
	}

	// Denied: the CONNECT is answered with the denial, nothing is dialled.
	conn, err := net.Dial("tcp", strings.TrimPrefix(fwd.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, port, _ := net.SplitHostPort(authority)
	_, _ = io.WriteString(conn, "CONNECT localhost:"+port+" HTTP/1.1\r\nHost: localhost:"+port+"\r\n\r\n")
	dresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeError(t, dresp.Body); dresp.StatusCode != 403 || e.Error != pipeline.CodeForbidden {
		t.Fatalf("denied CONNECT: %d %+v", dresp.StatusCode, e)
	}
	if o := outs.wait(t, 2); o.Denied != pipeline.CodeForbidden || o.Status != 403 {
		t.Errorf("outcome %+v", o)
	}

	// A destination that does not answer: 502.
	conn2, err := net.Dial("tcp", strings.TrimPrefix(fwd.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	dead := deadAddr(t)
	_, _ = io.WriteString(conn2, "CONNECT "+dead+" HTTP/1.1\r\nHost: "+dead+"\r\n\r\n")
	bresp, err := http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bresp.StatusCode != 502 {
		t.Fatalf("CONNECT to a dead address: %d", bresp.StatusCode)
	}
}

func TestForwardConnectBytesBeforeEstablished(t *testing.T) {
	// A client may send its first bytes right behind the CONNECT head.
	echo := echoServer(t)
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, &reqPlugin{name: "a", f: allow})}, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(fwd.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "CONNECT "+echo+" HTTP/1.1\r\nHost: "+echo+"\r\n\r\nearly bytes\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "early bytes\n" {
		t.Fatalf("echoed %q, %v", line, err)
	}
}

// echoServer echoes each connection's bytes back, and returns its address.
func echoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestForwardSkipHosts(t *testing.T) {
	be, _, hits := backend(t, nil)
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "skipped tls")
	}))
	defer tlsBackend.Close()
	var ran atomic.Int32
	gate := &reqPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		ran.Add(1)
		return pipeline.Denied(pipeline.CodeForbidden, "everything is denied")
	}}
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, gate), SkipHosts: []string{"127.0.0.*"}}, outs)

	resp, err := proxyClient(t, fwd.URL).Get(be.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || hits.Load() != 1 {
		t.Fatalf("skipped host over HTTP: status %d", resp.StatusCode)
	}
	client, tr := tlsClientVia(t, tlsBackend, fwd.URL)
	resp, err = client.Get(tlsBackend.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); got != "skipped tls" {
		t.Fatalf("skipped host over CONNECT: %q", got)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	if ran.Load() != 0 {
		t.Fatalf("the pipeline ran %d times on skipped hosts", ran.Load())
	}
	// Not skipped: localhost is another name.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(be.URL, "http://"))
	resp, err = proxyClient(t, fwd.URL).Get("http://localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || ran.Load() != 1 {
		t.Fatalf("a host not skipped: status %d, pipeline ran %d", resp.StatusCode, ran.Load())
	}
}

func TestForwardPeerFromTLSDialer(t *testing.T) {
	ca := x509test.NewSPIFFECA(t, "example.org")
	svid := ca.SVID(t, "spiffe://example.org/ns/tools/sa/callee", x509test.Options{})
	callee := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "over mtls")
	}))
	callee.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{svid.Certificates[0].Raw}, PrivateKey: svid.PrivateKey}}}
	callee.StartTLS()
	defer callee.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	// The strict-mTLS dialer: TLS to an http:// destination. (The real one checks the
	// SPIFFE chain; here the CA is the root and SANs are not checked.)
	dialPeer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &tls.Dialer{Config: &tls.Config{RootCAs: roots, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}
		return d.DialContext(ctx, network, addr)
	}
	var atResponse atomic.Value
	saw := &respPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		if r.Peer != nil {
			atResponse.Store(r.Peer.SPIFFEID)
		}
		return nil
	}}
	outs := &outcomes{}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, saw), DialPeer: dialPeer}, outs)
	resp, err := proxyClient(t, fwd.URL).Get("http://" + strings.TrimPrefix(callee.URL, "https://") + "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); resp.StatusCode != 200 || got != "over mtls" {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
	resp.Body.Close()
	if got, _ := atResponse.Load().(string); got != "spiffe://example.org/ns/tools/sa/callee" {
		t.Errorf("peer at the response %q", got)
	}
	if o := outs.wait(t, 1); o.Peer != "spiffe://example.org/ns/tools/sa/callee" {
		t.Errorf("outcome peer %q", o.Peer)
	}
}
