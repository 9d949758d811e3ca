package tlsbridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trustsync/trustsync/dataplane/tlsbridge"
	"github.com/trustsync/trustsync/internal/x509test"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// writeCA writes ca as cert-manager's Secret does (tls.crt, tls.key, ca.crt), with a
// modification time of at, so a rewrite is seen whatever the file system's resolution.
func writeCA(t *testing.T, dir string, ca *x509test.Cert, at time.Time) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.crt": ca.CertPEM(), "tls.key": ca.KeyPEM(t), "ca.crt": ca.CertPEM()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func newCA(t *testing.T, name string) *x509test.Cert {
	t.Helper()
	return x509test.New(t, x509test.Options{CommonName: name, IsCA: true, NotAfter: time.Now().Add(90 * 24 * time.Hour)})
}

func newBridge(t *testing.T, o tlsbridge.Options) *tlsbridge.Bridge {
	t.Helper()
	b, err := tlsbridge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// handshake runs the bridge's handshake for a CONNECT to hostport against a real TLS
// client over a pipe; it returns both sides' results.
func handshake(t *testing.T, b *tlsbridge.Bridge, hostport string, client *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	c, s := tcpPair(t)
	defer c.Close()
	defer s.Close()
	var serverErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc, err := b.Handshake(context.Background(), s, hostport)
		serverErr = err
		if err != nil {
			_ = s.Close()
			return
		}
		// Read until the client closes, so the client's handshake completes.
		buf := make([]byte, 1)
		_, _ = tc.Read(buf)
	}()
	tc := tls.Client(c, client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clientErr := tc.HandshakeContext(ctx)
	cs := tc.ConnectionState()
	_ = c.Close()
	<-done
	return cs, clientErr, serverErr
}

// tcpPair is a connected loopback TCP pair (TLS over a synchronous net.Pipe can
// deadlock on the server's session tickets).
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return client, server
}

func TestIsHandshakeRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"TLS 1.0 record (ClientHello of every version)", []byte{0x16, 0x03, 0x01, 0x02, 0x00}, true},
		{"TLS 1.2 record", []byte{0x16, 0x03, 0x03, 0x00, 0x10}, true},
		{"TLS 1.3 version byte", []byte{0x16, 0x03, 0x04, 0x00, 0x10}, true},
		{"SSL 3.0", []byte{0x16, 0x03, 0x00, 0x00, 0x10}, false},
		{"unknown minor", []byte{0x16, 0x03, 0x05, 0x00, 0x10}, false},
		{"application data record", []byte{0x17, 0x03, 0x03, 0x00, 0x10}, false},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), false},
		{"too short", []byte{0x16, 0x03, 0x01}, false},
		{"nothing", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tlsbridge.IsHandshakeRecord(tc.b); got != tc.want {
				t.Fatalf("IsHandshakeRecord(% x) = %v, want %v", tc.b, got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "bridge"), time.Now())
	b := newBridge(t, tlsbridge.Options{CADir: dir, PassthroughHosts: []string{"Pinned.Example.com", "10.0.0.9"}})
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0xf0}
	for _, tc := range []struct {
		hostport string
		first    []byte
		want     bool
	}{
		{"api.example.com:443", hello, true},
		{"api.example.com:8443", hello, true},
		{"API.example.com.:443", hello, true},
		{"10.0.0.8:443", hello, true},
		{"[2001:db8::1]:443", hello, true},
		{"api.example.com:8080", hello, false},              // not a bridge port
		{"api.example.com:443", []byte("SSH-2.0-x"), false}, // not TLS
		{"pinned.example.com:443", hello, false},            // passthrough, any case
		{"PINNED.example.com:8443", hello, false},           // passthrough
		{"sub.pinned.example.com:443", hello, true},         // exact, no suffix match
		{"10.0.0.9:443", hello, false},                      // passthrough IP
		{"api.example.com", hello, false},                   // no port
		{"api.example.com:https", hello, false},             // no numeric port
	} {
		t.Run(tc.hostport, func(t *testing.T) {
			if got := b.Terminates(tc.hostport, tc.first); got != tc.want {
				t.Fatalf("Terminates(%q) = %v, want %v", tc.hostport, got, tc.want)
			}
		})
	}
	custom := newBridge(t, tlsbridge.Options{CADir: dir, Ports: []int{9443}})
	if custom.Intercepts("api.example.com:443") || !custom.Intercepts("api.example.com:9443") {
		t.Fatal("ports: [9443] must replace the default ports")
	}
}

func TestHandshakeMintsVerifiedLeaves(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "bridge")
	writeCA(t, dir, ca, time.Now())
	clk := &clock{now: time.Now()}
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now})
	var leafKeys []any
	for _, tc := range []struct {
		name, hostport, sni, wantName string
		ip                            bool
	}{
		{"SNI names the leaf", "api.example.com:443", "api.example.com", "api.example.com", false},
		{"SNI wins over the CONNECT host", "203.0.113.7:443", "svc.example.org", "svc.example.org", false},
		{"no SNI: the CONNECT host, an IP SAN", "127.0.0.1:443", "", "127.0.0.1", true},
		{"no SNI: the CONNECT host, a DNS SAN", "Other.Example.net:8443", "", "other.example.net", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var verified []*x509.Certificate
			cfg := &tls.Config{
				ServerName:         tc.sni,
				InsecureSkipVerify: true, // verified below, for a name the client did not send as SNI too
				NextProtos:         []string{"h2", "http/1.1"},
				VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
					for _, r := range raw {
						c, err := x509.ParseCertificate(r)
						if err != nil {
							return err
						}
						verified = append(verified, c)
					}
					return nil
				},
			}
			cs, cerr, serr := handshake(t, b, tc.hostport, cfg)
			if cerr != nil || serr != nil {
				t.Fatalf("client %v, bridge %v", cerr, serr)
			}
			if cs.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN %q, want http/1.1 only", cs.NegotiatedProtocol)
			}
			if len(verified) != 2 || !verified[1].Equal(ca.Cert) {
				t.Fatalf("chain of %d, want leaf and CA", len(verified))
			}
			leaf := verified[0]
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.wantName, Roots: pool(ca.Cert), CurrentTime: clk.Now()}); err != nil {
				t.Fatalf("leaf does not verify for %s: %v", tc.wantName, err)
			}
			if leaf.Subject.CommonName != tc.wantName {
				t.Errorf("CN %q, want %q", leaf.Subject.CommonName, tc.wantName)
			}
			if tc.ip != (len(leaf.IPAddresses) == 1 && len(leaf.DNSNames) == 0) {
				t.Errorf("SANs: DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
			}
			pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Fatalf("leaf key %T, want ECDSA P-256", leaf.PublicKey)
			}
			leafKeys = append(leafKeys, pub)
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != 25*time.Hour {
				t.Errorf("validity %s, want 24 h plus the 1 h backdate", got)
			}
			if d := clk.Now().Sub(leaf.NotBefore); d < time.Hour-time.Second || d > time.Hour+time.Second {
				t.Errorf("backdated %s, want 1 h", d)
			}
		})
	}
	for _, k := range leafKeys[1:] {
		if !k.(*ecdsa.PublicKey).Equal(leafKeys[0]) {
			t.Fatal("leaves have different keys; one key serves them all")
		}
	}
}

func TestLeafCacheAndRemint(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "bridge"), time.Now())
	clk := &clock{now: time.Now()}
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now, MaxLeaves: 2})
	leaf := func(name string) *tls.Certificate {
		t.Helper()
		c, err := b.Leaf(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := leaf("a.example")
	if leaf("a.example") != a {
		t.Fatal("a second handshake to a host minted a new leaf; want the cached one")
	}
	leaf("b.example")
	leaf("c.example") // a.example is the least recently used of three, over MaxLeaves 2
	if leaf("a.example") == a {
		t.Fatal("the LRU kept more than MaxLeaves leaves")
	}
	a = leaf("a.example")
	clk.add(23*time.Hour + time.Minute) // within an hour of the end
	if again := leaf("a.example"); again == a || !again.Leaf.NotAfter.After(a.Leaf.NotAfter) {
		t.Fatal("an expiring leaf was not minted again")
	}
}

func TestHandshakeRefusedSkipsHost(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "bridge"), time.Now())
	clk := &clock{now: time.Now()}
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now})
	other := newCA(t, "the agent's own trust")
	const host = "pinned.example.com:443"
	if !b.Intercepts(host) {
		t.Fatal("a bridge port must be intercepted at first")
	}
	_, cerr, serr := handshake(t, b, host, &tls.Config{ServerName: "pinned.example.com", RootCAs: pool(other.Cert)})
	if cerr == nil || serr == nil {
		t.Fatalf("a client that does not trust the CA completed the handshake (client %v, bridge %v)", cerr, serr)
	}
	if !b.Skipped(host) || b.Intercepts(host) || b.Intercepts("PINNED.example.com:8443") {
		t.Fatal("the refused host is not in the skip set (any port, any case)")
	}
	if !b.Intercepts("other.example.com:443") {
		t.Fatal("the skip set took another host")
	}
	clk.add(tlsbridge.DefaultSkipTTL)
	if b.Skipped(host) || !b.Intercepts(host) {
		t.Fatal("the host is still skipped after the skip TTL")
	}
}

func TestSkipSetBounded(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "bridge"), time.Now())
	clk := &clock{now: time.Now()}
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now, MaxSkipped: 2, HandshakeTimeout: time.Second})
	refuse := func(host string) {
		t.Helper()
		c, s := net.Pipe()
		_ = c.Close() // the client goes away: a failed handshake
		if _, err := b.Handshake(context.Background(), s, host); err == nil {
			t.Fatal("handshake with a closed client succeeded")
		}
		clk.add(time.Second)
	}
	refuse("a.example:443")
	refuse("b.example:443")
	refuse("c.example:443")
	if b.Skipped("a.example:443") || !b.Skipped("b.example:443") || !b.Skipped("c.example:443") {
		t.Fatal("over MaxSkipped, the host nearest its end must go, and only it")
	}
}

func TestCAFiles(t *testing.T) {
	ecCA := newCA(t, "ec")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCA := x509test.New(t, x509test.Options{CommonName: "rsa", IsCA: true, Key: rsaKey})
	notCA := x509test.New(t, x509test.Options{CommonName: "leaf"})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	ecDER, err := x509.MarshalECPrivateKey(ecCA.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		wantCN  string
		wantErr string
	}{
		{"cert-manager Secret (PKCS #8 EC)", map[string][]byte{"tls.crt": ecCA.CertPEM(), "tls.key": ecCA.KeyPEM(t), "ca.crt": ecCA.CertPEM()}, "ec", ""},
		{"ca.crt and ca.key (SEC 1 EC)", map[string][]byte{"ca.crt": ecCA.CertPEM(), "ca.key": sec1}, "ec", ""},
		{"RSA PKCS #1", map[string][]byte{"ca.crt": rsaCA.CertPEM(), "ca.key": pkcs1}, "rsa", ""},
		{"tls.key wins over ca.key", map[string][]byte{"tls.crt": rsaCA.CertPEM(), "tls.key": pkcs1, "ca.crt": ecCA.CertPEM(), "ca.key": sec1}, "rsa", ""},
		{"not a CA", map[string][]byte{"tls.crt": notCA.CertPEM(), "tls.key": notCA.KeyPEM(t)}, "", "not a CA"},
		{"key of another certificate", map[string][]byte{"tls.crt": ecCA.CertPEM(), "tls.key": rsaCA.KeyPEM(t)}, "", "does not hold the key"},
		{"only the agent's ca.crt", map[string][]byte{"ca.crt": ecCA.CertPEM()}, "", "ca.key"},
		{"no PEM", map[string][]byte{"ca.crt": []byte("junk"), "ca.key": sec1}, "", "no PEM CERTIFICATE"},
		{"empty dir", nil, "", "ca.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, d := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), d, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			b, err := tlsbridge.New(tlsbridge.Options{CADir: dir})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cn := b.CACert().Subject.CommonName; cn != tc.wantCN {
				t.Fatalf("CA %q, want %q", cn, tc.wantCN)
			}
			l, err := b.Leaf("x.example")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Leaf.Verify(x509.VerifyOptions{DNSName: "x.example", Roots: pool(b.CACert())}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGenerateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	b := newBridge(t, tlsbridge.Options{CADir: dir, GenerateCA: true})
	ca := b.CACert()
	if !ca.IsCA || ca.NotAfter.Sub(ca.NotBefore) < 365*24*time.Hour {
		t.Fatalf("generated CA: isCA %v, valid %s", ca.IsCA, ca.NotAfter.Sub(ca.NotBefore))
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("generated CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	data, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(data); blk == nil || !ca.Equal(mustParse(t, blk.Bytes)) {
		t.Fatal("ca.crt is not the CA in use")
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v, want mode 0600", fi, err)
	}
	again := newBridge(t, tlsbridge.Options{CADir: dir, GenerateCA: true})
	if !again.CACert().Equal(ca) {
		t.Fatal("generate_ca replaced a CA that was there")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCARotationPickedUp(t *testing.T) {
	dir := t.TempDir()
	first, second := newCA(t, "first"), newCA(t, "second")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeCA(t, dir, first, t0)
	clk := &clock{now: time.Now()}
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now})
	signedBy := func(ca *x509test.Cert) bool {
		t.Helper()
		l, err := b.Leaf("api.example.com")
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Leaf.Verify(x509.VerifyOptions{DNSName: "api.example.com", Roots: pool(ca.Cert), CurrentTime: clk.Now()})
		return err == nil && l.Leaf.Issuer.CommonName == ca.Cert.Subject.CommonName
	}
	if !signedBy(first) {
		t.Fatal("the leaf is not of the first CA")
	}

	// A renewal half written (the new certificate, the old key) is not taken.
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), second.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(dir, "tls.crt"), t0.Add(time.Minute), t0.Add(time.Minute))
	clk.add(tlsbridge.DefaultCACheckInterval)
	if !signedBy(first) {
		t.Fatal("a CA that does not match its key replaced the good one")
	}

	writeCA(t, dir, second, t0.Add(2*time.Minute))
	clk.add(tlsbridge.DefaultCACheckInterval / 2)
	if !signedBy(first) {
		t.Fatal("the CA files were looked at again within the check interval")
	}
	clk.add(tlsbridge.DefaultCACheckInterval / 2)
	if !signedBy(second) {
		t.Fatal("the renewed CA was not picked up after the check interval")
	}
	if !b.CACert().Equal(second.Cert) {
		t.Fatal("CACert is not the renewed CA")
	}
}

func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "bridge"), time.Now())
	backendCA := newCA(t, "backend CA")
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, backendCA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBridge(t, tlsbridge.Options{CADir: dir, UpstreamCABundle: bundle})
	cfg := b.UpstreamTLS()
	if cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("upstream TLS: insecure %v, min version %x", cfg.InsecureSkipVerify, cfg.MinVersion)
	}
	if _, err := backendCA.Cert.Verify(x509.VerifyOptions{Roots: cfg.RootCAs}); err != nil {
		t.Fatalf("the upstream bundle's CA is not trusted: %v", err)
	}

	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsbridge.New(tlsbridge.Options{CADir: dir, UpstreamCABundle: junk}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("err = %v, want the bundle refused", err)
	}
	if _, err := tlsbridge.New(tlsbridge.Options{}); err == nil {
		t.Fatal("a bridge without ca_dir was made")
	}
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, newCA(t, "first"), time.Now().Add(-time.Hour))
	clk := &clock{now: time.Now()}
	reg := prometheus.NewRegistry()
	b := newBridge(t, tlsbridge.Options{CADir: dir, Now: clk.Now, Registerer: reg})
	if _, cerr, serr := handshake(t, b, "ok.example:443", &tls.Config{ServerName: "ok.example", RootCAs: pool(b.CACert())}); cerr != nil || serr != nil {
		t.Fatalf("client %v, bridge %v", cerr, serr)
	}
	if _, _, serr := handshake(t, b, "pinned.example:443", &tls.Config{ServerName: "pinned.example", RootCAs: pool(newCA(t, "other").Cert)}); serr == nil {
		t.Fatal("a refused leaf completed the handshake")
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.add(tlsbridge.DefaultCACheckInterval)
	_, _ = b.Leaf("x.example")
	writeCA(t, dir, newCA(t, "second"), time.Now())
	clk.add(tlsbridge.DefaultCACheckInterval)
	_, _ = b.Leaf("x.example")
	want := `
# HELP trustsync_sidecar_tls_bridge_ca_reloads_total Reads of the bridge CA after its files changed, by result: ok, failed (the previous CA stays in use).
# TYPE trustsync_sidecar_tls_bridge_ca_reloads_total counter
trustsync_sidecar_tls_bridge_ca_reloads_total{result="failed"} 1
trustsync_sidecar_tls_bridge_ca_reloads_total{result="ok"} 1
# HELP trustsync_sidecar_tls_bridge_handshakes_total The agent's TLS handshakes the bridge terminated, by result: ok, failed (the client refused the leaf, or went away; its host is then tunnelled blind for a while).
# TYPE trustsync_sidecar_tls_bridge_handshakes_total counter
trustsync_sidecar_tls_bridge_handshakes_total{result="failed"} 1
trustsync_sidecar_tls_bridge_handshakes_total{result="ok"} 1
# HELP trustsync_sidecar_tls_bridge_leaves_minted_total Leaves the bridge minted (cache misses, expiring leaves, a new CA).
# TYPE trustsync_sidecar_tls_bridge_leaves_minted_total counter
trustsync_sidecar_tls_bridge_leaves_minted_total 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
