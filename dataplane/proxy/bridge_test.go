package proxy_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/dataplane/tlsbridge"
	"github.com/trustsync/trustsync/internal/x509test"
)

// seenReq is a copy of what the outbound pipeline saw of one request.
type seenReq struct{ Method, Scheme, Host, Path string }

// recorder is a test plugin recording every request of the outbound pipeline and
// denying the paths it is told to.
type recorder struct {
	mu   sync.Mutex
	seen []seenReq
	deny map[string]bool
}

func (p *recorder) Name() string { return "recorder" }

func (p *recorder) OnRequest(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	p.mu.Lock()
	p.seen = append(p.seen, seenReq{r.Method, r.Scheme, r.Host, r.Path})
	p.mu.Unlock()
	if p.deny[r.Path] {
		return pipeline.Denied(pipeline.CodeForbidden, "blocked path")
	}
	if r.Method != http.MethodConnect {
		r.Header.Set("Authorization", "Bearer exchanged")
	}
	return nil
}

func (p *recorder) all() []seenReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenReq(nil), p.seen...)
}

// backendHit is what a TLS backend received.
type backendHit struct{ path, host, auth string }

// httpsBackend is an HTTPS server with a certificate for 127.0.0.1 from ca.
type httpsBackend struct {
	srv  *httptest.Server
	addr string
	port int
	cert *x509.Certificate
	mu   sync.Mutex
	hits []backendHit
}

func (b *httpsBackend) received() []backendHit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]backendHit(nil), b.hits...)
}

func newHTTPSBackend(t *testing.T, ca *x509test.Cert) *httpsBackend {
	t.Helper()
	be := &httpsBackend{}
	be.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		be.mu.Lock()
		be.hits = append(be.hits, backendHit{r.URL.Path, r.Host, r.Header.Get("Authorization")})
		be.mu.Unlock()
		_, _ = io.WriteString(w, "from the backend "+r.URL.Path)
	}))
	be.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the tests fail on purpose
	cert := serverCert(t, ca, net.ParseIP("127.0.0.1"))
	be.cert = cert.Leaf
	be.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	be.srv.StartTLS()
	t.Cleanup(be.srv.Close)
	be.addr = be.srv.Listener.Addr().String()
	_, p, _ := net.SplitHostPort(be.addr)
	be.port, _ = strconv.Atoi(p)
	return be
}

// serverCert is a server leaf for ip (and the DNS name backend.test) signed by ca.
func serverCert(t *testing.T, ca *x509test.Cert, ip net.IP) tls.Certificate {
	t.Helper()
	leaf := x509test.New(t, x509test.Options{CommonName: ip.String()})
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: ip.String()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip},
		DNSNames:     []string{"backend.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, leaf.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leaf.Key, Leaf: parsed}
}

// bridgeSetup is a forward proxy with a TLS bridge.
type bridgeSetup struct {
	bridge *tlsbridge.Bridge
	fwd    *httptest.Server
	rec    *recorder
	outs   *outcomes
	// agentRoots trust the bridge CA (what the agent is given).
	agentRoots *x509.CertPool
}

// newBridgeSetup makes a bridge (its CA generated in a temporary ca_dir), with the
// upstream bundle trusting upstreamCA when it is set, and a forward proxy using it.
func newBridgeSetup(t *testing.T, upstreamCA *x509test.Cert, o tlsbridge.Options, deny ...string) *bridgeSetup {
	t.Helper()
	o.CADir = filepath.Join(t.TempDir(), "ca")
	o.GenerateCA = true
	if upstreamCA != nil {
		o.UpstreamCABundle = filepath.Join(t.TempDir(), "upstream.pem")
		if err := os.WriteFile(o.UpstreamCABundle, upstreamCA.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := tlsbridge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &bridgeSetup{bridge: b, rec: &recorder{deny: map[string]bool{}}, outs: &outcomes{}, agentRoots: x509.NewCertPool()}
	for _, d := range deny {
		s.rec.deny[d] = true
	}
	caPEM, err := os.ReadFile(filepath.Join(o.CADir, tlsbridge.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !s.agentRoots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ca.crt")
	}
	_, s.fwd = newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, s.rec), Bridge: b}, s.outs)
	return s
}

// agent is an HTTPS client through the forward proxy that trusts roots.
func (s *bridgeSetup) agent(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	u, err := url.Parse(s.fwd.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: roots}},
		Timeout:   20 * time.Second,
	}
}

// connect opens a CONNECT tunnel to target through the forward proxy.
func (s *bridgeSetup) connect(t *testing.T, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.fwd.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: status %d", target, resp.StatusCode)
	}
	if br.Buffered() != 0 {
		t.Fatal("bytes after the CONNECT response before the client spoke")
	}
	return c
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func issuedBy(c *x509.Certificate, ca *x509.Certificate) bool {
	return c.CheckSignatureFrom(ca) == nil
}

// getOver sends GET path on an established TLS tunnel and returns the response body.
func getOver(t *testing.T, tc *tls.Conn, path string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(tc, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(t, resp.Body)
}

// Test 1 and 2: the agent's HTTPS through CONNECT is decrypted, decided by the
// unchanged outbound pipeline and re-originated over verified TLS; a denial is
// answered inside the TLS session.
func TestBridgeTerminatesCONNECT(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{be.port}}, "/blocked")
	agent := s.agent(t, s.agentRoots)
	bridgeCA := s.bridge.CACert()

	resp, err := agent.Get("https://" + be.addr + "/tools?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body != "from the backend /tools" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if resp.TLS == nil || !issuedBy(resp.TLS.PeerCertificates[0], bridgeCA) {
		t.Fatal("the agent's TLS session is not with the bridge's leaf")
	}
	if resp.TLS.NegotiatedProtocol != "" && resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("ALPN %q", resp.TLS.NegotiatedProtocol)
	}
	// A second request on the same connection is decided too.
	resp, err = agent.Get("https://" + be.addr + "/second")
	if err != nil {
		t.Fatal(err)
	}
	_ = readAll(t, resp.Body)
	resp.Body.Close()

	resp, err = agent.Get("https://" + be.addr + "/blocked")
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS == nil || !issuedBy(resp.TLS.PeerCertificates[0], bridgeCA) {
		t.Fatal("the denial was not sent inside the bridged TLS session")
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("denial Content-Type %q", ct)
	}
	if e := decodeError(t, resp.Body); resp.StatusCode != 403 || e.Error != pipeline.CodeForbidden || e.Message != "blocked path" || e.Plugin != "recorder" {
		t.Errorf("denial: status %d body %+v", resp.StatusCode, e)
	}
	resp.Body.Close()

	want := []seenReq{
		{http.MethodConnect, "tcp", be.addr, ""},
		{http.MethodGet, "https", be.addr, "/tools"},
		{http.MethodGet, "https", be.addr, "/second"},
		{http.MethodGet, "https", be.addr, "/blocked"},
	}
	if got := s.rec.all(); !equalSeen(got, want) {
		t.Fatalf("the pipeline saw %+v, want %+v", got, want)
	}
	hits := be.received()
	if len(hits) != 2 || hits[0].path != "/tools" || hits[1].path != "/second" {
		t.Fatalf("the backend received %+v; want /tools and /second, never /blocked", hits)
	}
	if hits[0].auth != "Bearer exchanged" || hits[0].host != be.addr {
		t.Errorf("the backend saw %+v; want the pipeline's header and the agent's Host", hits[0])
	}
	o := s.outs.wait(t, 3)
	if o.Listener != "forward" || o.Scheme != "https" || o.Path != "/blocked" || o.Status != 403 || o.Denied != pipeline.CodeForbidden {
		t.Errorf("outcome %+v", o)
	}
	if o := s.outs.all()[0]; o.Scheme != "https" || o.Path != "/tools" || o.Status != 200 {
		t.Errorf("first outcome %+v", o)
	}
}

func equalSeen(a, b []seenReq) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A decrypted request whose Host names another host than the CONNECT's is refused
// 421: the policy decided on the CONNECT's host, and the destination would route by
// the Host header (domain fronting).
func TestBridgeRefusesFrontedHost(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{be.port}})
	tc := tls.Client(s.connect(t, be.addr), &tls.Config{ServerName: "127.0.0.1", RootCAs: s.agentRoots})
	if _, err := io.WriteString(tc, "GET /fronted HTTP/1.1\r\nHost: forbidden.example\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("status %d, want 421", resp.StatusCode)
	}
	if hits := be.received(); len(hits) != 0 {
		t.Fatalf("the backend received %+v", hits)
	}
	if got := s.rec.all(); len(got) != 1 || got[0].Method != http.MethodConnect {
		t.Fatalf("the pipeline saw %+v; want the CONNECT only", got)
	}
}

// Test 3: a passthrough host is tunnelled blind: the agent sees the backend's own
// certificate.
func TestBridgePassthroughHost(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{be.port}, PassthroughHosts: []string{"127.0.0.1"}})
	tc := tls.Client(s.connect(t, be.addr), &tls.Config{ServerName: "127.0.0.1", RootCAs: pool(backendCA.Cert, s.bridge.CACert())})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !tc.ConnectionState().PeerCertificates[0].Equal(be.cert) {
		t.Fatal("the agent does not see the backend's own certificate")
	}
	if code, body := getOver(t, tc, "/direct"); code != 200 || body != "from the backend /direct" {
		t.Fatalf("status %d body %q", code, body)
	}
	_ = tc.Close()
	s.outs.wait(t, 1)
	if got := s.rec.all(); len(got) != 1 || got[0].Method != http.MethodConnect {
		t.Fatalf("the pipeline saw %+v; want the CONNECT only", got)
	}
}

// Test 4: an agent that refuses the minted leaf fails its handshake; the host enters
// the skip set and its next CONNECT is tunnelled blind.
func TestBridgeRefusedLeafSkipsHost(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{be.port}})
	pinned := &tls.Config{ServerName: "127.0.0.1", RootCAs: pool(backendCA.Cert)} // not the bridge CA

	tc := tls.Client(s.connect(t, be.addr), pinned)
	var uae x509.UnknownAuthorityError
	if err := tc.Handshake(); err == nil || !asUnknownAuthority(err, &uae) {
		t.Fatalf("handshake error %v, want the bridge's leaf refused", err)
	}
	_ = tc.Close()
	if o := s.outs.wait(t, 1); o.Method != http.MethodConnect || o.Status != 0 {
		t.Fatalf("outcome %+v", o)
	}
	if !s.bridge.Skipped(be.addr) {
		t.Fatal("the host is not in the skip set after its client refused the leaf")
	}

	tc = tls.Client(s.connect(t, be.addr), pinned)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("the next CONNECT was not tunnelled blind: %v", err)
	}
	if !tc.ConnectionState().PeerCertificates[0].Equal(be.cert) {
		t.Fatal("the agent does not see the backend's own certificate")
	}
	if code, body := getOver(t, tc, "/pinned"); code != 200 || body != "from the backend /pinned" {
		t.Fatalf("status %d body %q", code, body)
	}
	if got := s.rec.all(); len(got) != 2 || got[1].Method != http.MethodConnect {
		t.Fatalf("the pipeline saw %+v; want two CONNECTs and nothing decrypted", got)
	}
}

func asUnknownAuthority(err error, target *x509.UnknownAuthorityError) bool {
	var ce *tls.CertificateVerificationError
	if ok := errors.As(err, &ce); ok {
		return errors.As(ce.Err, target)
	}
	return false
}

// Test 5: what is not TLS, or not on a bridge port, is tunnelled blind.
func TestBridgeBlindTunnels(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	echo := echoServer(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	ep, _ := strconv.Atoi(echoPort)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{ep}}) // the TLS backend's port is not a bridge port

	t.Run("non-TLS bytes on a bridge port", func(t *testing.T) {
		c := s.connect(t, echo)
		for _, msg := range []string{"h", "ello, not a TLS record\n"} { // the first byte decides
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
				t.Fatalf("echo %q %v, want %q", buf, err, msg)
			}
		}
	})
	t.Run("TLS on a port outside ports", func(t *testing.T) {
		tc := tls.Client(s.connect(t, be.addr), &tls.Config{ServerName: "127.0.0.1", RootCAs: pool(backendCA.Cert)})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if !tc.ConnectionState().PeerCertificates[0].Equal(be.cert) {
			t.Fatal("the agent does not see the backend's own certificate")
		}
		if code, body := getOver(t, tc, "/other-port"); code != 200 || body != "from the backend /other-port" {
			t.Fatalf("status %d body %q", code, body)
		}
	})
	for _, r := range s.rec.all() {
		if r.Method != http.MethodConnect {
			t.Fatalf("the pipeline saw a decrypted request %+v", r)
		}
	}
}

// Test 6: a backend whose certificate does not verify is answered 502 inside the
// agent's session; no request reaches it.
func TestBridgeUnverifiedUpstreamIs502(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, nil, tlsbridge.Options{Ports: []int{be.port}}) // no upstream bundle
	resp, err := s.agent(t, s.agentRoots).Get("https://" + be.addr + "/secret")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.TLS == nil || !issuedBy(resp.TLS.PeerCertificates[0], s.bridge.CACert()) {
		t.Fatal("the 502 was not sent inside the bridged session")
	}
	if e := decodeError(t, resp.Body); resp.StatusCode != 502 || e.Error != "bad gateway" {
		t.Fatalf("status %d body %+v, want 502 bad gateway", resp.StatusCode, e)
	}
	if hits := be.received(); len(hits) != 0 {
		t.Fatalf("the unverified backend received %+v", hits)
	}
	if o := s.outs.wait(t, 1); o.Scheme != "https" || o.Status != 502 {
		t.Fatalf("outcome %+v", o)
	}
}

func TestBridgeSkipHostsNotTerminated(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	b, err := tlsbridge.New(tlsbridge.Options{CADir: filepath.Join(t.TempDir(), "ca"), GenerateCA: true, Ports: []int{be.port}})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	gate := &reqPlugin{name: "gate", f: func(*pipeline.Request) *pipeline.Deny { calls.Add(1); return nil }}
	_, fwd := newForward(t, proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, gate), SkipHosts: []string{"127.0.0.1"}, Bridge: b}, nil)
	s := &bridgeSetup{fwd: fwd}
	tc := tls.Client(s.connect(t, be.addr), &tls.Config{ServerName: "127.0.0.1", RootCAs: pool(backendCA.Cert)})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("a skip_hosts CONNECT was not tunnelled blind: %v", err)
	}
	if code, _ := getOver(t, tc, "/x"); code != 200 || calls.Load() != 0 {
		t.Fatalf("status %d, pipeline calls %d", code, calls.Load())
	}
}

// The transparent listener bridges TLS on a bridge port as the forward proxy does a
// CONNECT, the SNI being the host: decided, decrypted, and re-originated to the
// original destination with the SNI's name verified.
func TestBridgeTransparent(t *testing.T) {
	backendCA := newCA(t, "backend CA")
	be := newHTTPSBackend(t, backendCA)
	s := newBridgeSetup(t, backendCA, tlsbridge.Options{Ports: []int{be.port}}, "/blocked")
	f, err := proxy.NewForward(proxy.ForwardOptions{Pipeline: pipe(t, pipeline.Outbound, s.rec), Bridge: s.bridge, OnDone: s.outs.done})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := transparentAt(t, f, be.addr)
	host := net.JoinHostPort("backend.test", strconv.Itoa(be.port))
	get := func(sni, path string) (*http.Response, string) {
		t.Helper()
		tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: s.agentRoots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("https://" + net.JoinHostPort(sni, strconv.Itoa(be.port)) + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp, readAll(t, resp.Body)
	}

	resp, body := get("backend.test", "/t")
	if resp.StatusCode != 200 || body != "from the backend /t" || !issuedBy(resp.TLS.PeerCertificates[0], s.bridge.CACert()) {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if hits := be.received(); len(hits) != 1 || hits[0].auth != "Bearer exchanged" {
		t.Fatalf("the backend received %+v", hits)
	}
	resp, _ = get("backend.test", "/blocked")
	if resp.StatusCode != 403 {
		t.Fatalf("denied path: status %d", resp.StatusCode)
	}
	// The destination's certificate is checked for the SNI's name, not only reached.
	resp, body = get("elsewhere.test", "/t")
	if resp.StatusCode != 502 {
		t.Fatalf("a destination whose certificate is not for the SNI: status %d body %q", resp.StatusCode, body)
	}
	if hits := be.received(); len(hits) != 1 {
		t.Fatalf("the backend received %+v", hits)
	}
	s.outs.wait(t, 6)
	var got []seenReq
	for _, r := range s.rec.all() {
		if r.Host == host {
			got = append(got, r)
		}
	}
	want := []seenReq{
		{http.MethodConnect, "tcp", host, ""}, {http.MethodGet, "https", host, "/t"},
		{http.MethodConnect, "tcp", host, ""}, {http.MethodGet, "https", host, "/blocked"},
	}
	if !equalSeen(got, want) {
		t.Fatalf("the pipeline saw %+v, want %+v", got, want)
	}
	for _, o := range s.outs.all() {
		if o.Listener != "transparent" {
			t.Fatalf("outcome %+v, want the transparent listener's", o)
		}
	}
}

func newCA(t *testing.T, name string) *x509test.Cert {
	t.Helper()
	return x509test.New(t, x509test.Options{CommonName: name, IsCA: true})
}
