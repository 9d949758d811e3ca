package mtls_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// fixture is a server and a client configuration of one trust domain.
type fixture struct {
	serverCfg, clientCfg *tls.Config
	clientID             string
}

func newFixture(t testing.TB, m *mtls.Metrics) fixture {
	t.Helper()
	p := newPKI(t)
	member := mtls.Authorizer{TrustDomain: td}
	return fixture{
		serverCfg: mtls.ServerConfig(newSource(svid(t, p.ca, idIn(td, serverPath)), p.ca.Bundle("td")), member, m),
		clientCfg: mtls.ClientConfig(newSource(svid(t, p.ca, idIn(td, clientPath)), p.ca.Bundle("td")), member, m),
		clientID:  idIn(td, clientPath).String(),
	}
}

func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosed reads from c until the server closes it, within bound.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", within)
	}
	// nil (EOF) or a reset: closed either way.
}

// TestListenModes: permissive serves TLS and plaintext on one port; strict serves TLS
// and closes plaintext.
func TestListenModes(t *testing.T) {
	tests := []struct {
		mode      sidecarconfig.MTLSMode
		wantPlain bool
		want      map[string]float64
	}{
		{sidecarconfig.MTLSPermissive, true, map[string]float64{"inbound/tls_accepted": 1, "inbound/plain_accepted": 1, "outbound/ok": 1}},
		{"", true, map[string]float64{"inbound/tls_accepted": 1, "inbound/plain_accepted": 1, "outbound/ok": 1}},
		{sidecarconfig.MTLSStrict, false, map[string]float64{"inbound/tls_accepted": 1, "inbound/plain_rejected": 1, "outbound/ok": 1}},
		{"bogus", false, map[string]float64{"inbound/tls_accepted": 1, "inbound/plain_rejected": 1, "outbound/ok": 1}},
	}
	for _, tt := range tests {
		t.Run("mode "+string(tt.mode), func(t *testing.T) {
			m := newMetered(t)
			f := newFixture(t, m.Metrics)
			addr := serve(t, tt.mode, f.serverCfg, mtls.ListenOptions{Metrics: m.Metrics})

			res, err := get(mtlsClient(f.clientCfg, m.Metrics, false), addr)
			if err != nil {
				t.Fatalf("over TLS: %v", err)
			}
			if res.body != f.clientID {
				t.Errorf("over TLS the server saw %q, want %s", res.body, f.clientID)
			}

			res, err = get(plainClient(), addr)
			switch {
			case tt.wantPlain && err != nil:
				t.Fatalf("plaintext: %v", err)
			case tt.wantPlain && res.body != "plain":
				t.Errorf("plaintext: the server saw %q, want plain", res.body)
			case !tt.wantPlain && err == nil:
				t.Fatalf("plaintext was served (%q), want the connection closed", res.body)
			}
			m.waitCounts(t, tt.want)
		})
	}
}

// TestListenHostile: bytes that are not a TLS handshake after a 0x16, a client that
// stops mid-handshake, and one that never speaks are closed within their bounds.
func TestListenHostile(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		want map[string]float64
	}{
		{"handshake byte then garbage", append([]byte{0x16}, []byte(strings.Repeat("garbage!", 64))...), map[string]float64{"inbound/handshake_failed": 1}},
		{"truncated ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, map[string]float64{"inbound/handshake_failed": 1}},
		{"silent", nil, map[string]float64{}},
		{"TLS record of another type", []byte{0x17, 0x03, 0x03, 0x00, 0x01, 0x00}, map[string]float64{"inbound/plain_rejected": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetered(t)
			f := newFixture(t, m.Metrics)
			o := mtls.ListenOptions{Metrics: m.Metrics, PeekTimeout: 200 * time.Millisecond, HandshakeTimeout: 300 * time.Millisecond}
			addr := serve(t, sidecarconfig.MTLSStrict, f.serverCfg, o)
			c := dialRaw(t, addr)
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second)
			m.waitCounts(t, tt.want)
		})
	}
}

// TestListenIdleClientDoesNotDelayOthers: a client that connects and sends nothing does
// not delay a second client (upstream peeked inside Accept: the second client waited
// for the first's peek timeout).
func TestListenIdleClientDoesNotDelayOthers(t *testing.T) {
	for _, mode := range []sidecarconfig.MTLSMode{sidecarconfig.MTLSPermissive, sidecarconfig.MTLSStrict} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, nil)
			// The peek timeout far exceeds the second client's own timeout.
			addr := serve(t, mode, f.serverCfg, mtls.ListenOptions{PeekTimeout: time.Minute})
			idle := dialRaw(t, addr)
			_ = idle

			c := mtlsClient(f.clientCfg, nil, false)
			c.Timeout = 5 * time.Second
			start := time.Now()
			res, err := get(c, addr)
			if err != nil {
				t.Fatalf("the second client, after %s: %v", time.Since(start), err)
			}
			if res.body != f.clientID {
				t.Fatalf("server saw %q, want %s", res.body, f.clientID)
			}
			if mode == sidecarconfig.MTLSPermissive {
				pc := plainClient()
				pc.Timeout = 5 * time.Second
				if _, err := get(pc, addr); err != nil {
					t.Fatalf("a plaintext client behind the idle one: %v", err)
				}
			}
		})
	}
}

// TestListenMaxPending: beyond MaxPending connections being classified, the next waits
// (in the kernel backlog) until one finishes.
func TestListenMaxPending(t *testing.T) {
	addr := serve(t, sidecarconfig.MTLSPermissive, nil, mtls.ListenOptions{PeekTimeout: time.Minute, MaxPending: 1})
	idle := dialRaw(t, addr)

	second := dialRaw(t, addr) // connected by the kernel, not yet accepted
	if _, err := io.WriteString(second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := second.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := second.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the second connection was served while the first held the only slot (read: %v)", err)
	}

	idle.Close() // its peek ends with EOF, freeing the slot
	if err := second.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatalf("the second connection after the first closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestListenClose: Close unblocks Accept with net.ErrClosed and closes the connections
// still being classified; the listener's port is released.
func TestListenClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := mtls.Listen(inner, sidecarconfig.MTLSStrict, nil, mtls.ListenOptions{PeekTimeout: time.Minute})
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		accepted <- err
	}()
	idle := dialRaw(t, l.Addr().String())
	// The idle connection is being peeked at once it was accepted; there is no signal of
	// that, but Close must close it whether or not it got that far.
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked 5 s after Close")
	}
	expectClosed(t, idle, 5*time.Second)
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}

// fakeListener returns its errors in turn from Accept, then net.ErrClosed.
type fakeListener struct {
	errs chan error
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if err, ok := <-f.errs; ok {
		return nil, err
	}
	return nil, net.ErrClosed
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestListenInnerErrors: the inner listener's errors reach Accept (http.Server backs off
// on temporary ones); its closing ends Accept with net.ErrClosed.
func TestListenInnerErrors(t *testing.T) {
	boom := &net.OpError{Op: "accept", Net: "tcp", Err: os.ErrDeadlineExceeded}
	f := &fakeListener{errs: make(chan error, 1)}
	f.errs <- boom
	close(f.errs)
	l := mtls.Listen(f, sidecarconfig.MTLSStrict, nil, mtls.ListenOptions{})
	defer l.Close()
	if _, err := l.Accept(); !errors.Is(err, boom) {
		t.Fatalf("first Accept: %v, want %v", err, boom)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after the inner listener closed: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept blocked after the inner listener closed")
	}
}

// TestPeekedConnReplays: a plaintext connection's first byte, read to classify it, is
// replayed, and the connection still unwraps to the accepted socket.
func TestPeekedConnReplays(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := mtls.Listen(inner, sidecarconfig.MTLSPermissive, nil, mtls.ListenOptions{})
	defer l.Close()
	c := dialRaw(t, l.Addr().String())
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan net.Conn, 1)
	go func() {
		if s, err := l.Accept(); err == nil {
			got <- s
		}
	}()
	var s net.Conn
	select {
	case s = <-got:
	case <-ctx.Done():
		t.Fatal("no connection accepted in 5 s")
	}
	defer s.Close()
	if err := s.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf, err)
	}
	u, ok := s.(interface{ NetConn() net.Conn })
	if !ok {
		t.Fatalf("%T has no NetConn", s)
	}
	if _, ok := u.NetConn().(*net.TCPConn); !ok {
		t.Fatalf("NetConn is %T, want *net.TCPConn", u.NetConn())
	}
}
