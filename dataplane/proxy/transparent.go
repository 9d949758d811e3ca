package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// TransparentOptions configure the transparent listener (the enforce-redirect target).
type TransparentOptions struct {
	// Forward is the outbound proxy whose pipeline, dialers and OnDone serve the
	// redirected connections (its skip_hosts do not apply here).
	Forward *Forward
	// OriginalDst is SO_ORIGINAL_DST in production (dataplane/origdst).
	OriginalDst func(net.Conn) (netip.AddrPort, error)
	// Self are the sidecar's own listeners: a redirected connection to them is a loop
	// and is refused. An unspecified address (0.0.0.0, ::) stands for every loopback
	// address on its port.
	Self []netip.AddrPort
	// MaxConns bounds the connections served at once (default 4096); further ones wait
	// in the listen queue.
	MaxConns int
}

// ServeTransparent accepts on ln until ctx is done (then it closes ln and every
// connection, and returns nil once all have ended) or ln fails. Each connection goes
// to its original destination, never to where its bytes say: an HTTP request is served
// with the outbound pipeline (its Host header is only the policy's host), anything else
// is decided as a CONNECT to the TLS SNI or the destination and tunnelled blind, or,
// when the forward proxy has a TLS bridge that terminates it, decrypted and served as
// the forward proxy serves a bridged CONNECT. A denial closes the connection without a
// byte, as upstream (inside a bridged session, a request's denial is answered).
func ServeTransparent(ctx context.Context, ln net.Listener, o TransparentOptions) error {
	if o.Forward == nil {
		return errors.New("transparent listener: no forward proxy")
	}
	if o.OriginalDst == nil {
		return errors.New("transparent listener: no original-destination lookup")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	t := &transparent{o: o, f: o.Forward}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, o.MaxConns)
	var backoff time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		conn, err := ln.Accept()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors and the like: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				t.f.log.Error(err, "transparent listener: accept failed; retrying", "listener", ln.Addr().String(), "in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("transparent listener %s: accept: %w", ln.Addr(), err)
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t.serve(ctx, conn)
		}()
	}
}

type transparent struct {
	o TransparentOptions
	f *Forward
}

func (t *transparent) self(dst netip.AddrPort) bool {
	for _, s := range t.o.Self {
		a := s.Addr().Unmap()
		if s.Port() != dst.Port() {
			continue
		}
		if a == dst.Addr() || a.IsUnspecified() && dst.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

type sniffed int

const (
	sniffOther sniffed = iota
	sniffHTTP
	sniffTLS
)

func (t *transparent) serve(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer func() { _ = conn.Close() }()
	dst, err := t.o.OriginalDst(conn)
	if err != nil || !dst.IsValid() {
		return
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if t.self(dst) {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(peekTimeout))
	br := bufio.NewReaderSize(conn, peekBytes)
	kind, sni, ok := sniff(br)
	if !ok {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: conn, r: br}
	if kind == sniffHTTP {
		t.serveHTTP(ctx, pc, dst)
		return
	}
	host := dst.String()
	if sni != "" {
		host = net.JoinHostPort(sni, strconv.Itoa(int(dst.Port())))
	}
	if kind == sniffTLS && t.f.bridge != nil {
		if first, _ := br.Peek(5); t.f.bridge.Terminates(host, first) {
			t.bridge(ctx, pc, dst, host)
			return
		}
	}
	t.tunnel(ctx, pc, dst, host)
}

// bridge decides on a TLS connection as a CONNECT to host (the SNI, else the
// destination) and, allowed, terminates it with the TLS bridge: its requests go
// through the outbound pipeline with host as theirs and are re-originated over
// verified TLS (SNI and name checked: host) to the original destination, never to
// where host resolves. Its transport is the connection's own, so that a connection
// verified for one name never carries a request for another.
func (t *transparent) bridge(ctx context.Context, conn net.Conn, dst netip.AddrPort, host string) {
	ex := getExchange(ListenerTransparent, nil)
	defer finish(ex, t.f.c.onDone)
	if !t.allowed(ctx, ex, host) {
		return
	}
	start := time.Now()
	defer func() { ex.out.Upstream = time.Since(start) }()
	tc, err := t.f.bridge.Handshake(ctx, conn, host)
	if err != nil {
		return
	}
	to := dst.String()
	c := t.f.bridgeCore(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return t.f.dialTunnel(ctx, network, to)
	})
	defer c.rp.Transport.(*http.Transport).CloseIdleConnections()
	serveDecrypted(ctx, tc, &bridged{f: t.f, c: c, listener: ListenerTransparent, hostport: host}, t.f.log)
}

// sniff looks at what the client sends first, within the peek deadline. ok is false
// when the connection ended before a byte.
func sniff(br *bufio.Reader) (kind sniffed, sni string, ok bool) {
	first, err := br.Peek(1)
	if err != nil {
		var ne net.Error
		// A client that waits for the server to speak first is tunnelled.
		return sniffOther, "", errors.As(err, &ne) && ne.Timeout()
	}
	if first[0] == 0x16 {
		hdr, err := br.Peek(5)
		if err != nil {
			return sniffTLS, "", true
		}
		n := min(5+(int(hdr[3])<<8|int(hdr[4])), peekBytes)
		hello, _ := br.Peek(n)
		return sniffTLS, serverName(hello), true
	}
	if looksHTTP(br) {
		return sniffHTTP, "", true
	}
	return sniffOther, "", true
}

var methods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("HEAD "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("TRACE "), []byte("CONNECT "),
}

// looksHTTP reads ahead only as far as a method and its space need.
func looksHTTP(br *bufio.Reader) bool {
	const longest = len("OPTIONS ")
	for {
		b, _ := br.Peek(min(max(br.Buffered(), 1), longest))
		prefix := false
		for _, m := range methods {
			switch {
			case bytes.HasPrefix(b, m):
				return true
			case bytes.HasPrefix(m, b):
				prefix = true
			}
		}
		if !prefix || len(b) >= longest {
			return false
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return false
		}
	}
}

var errHelloRead = errors.New("client hello read")

// serverName is the SNI of a ClientHello, read with crypto/tls itself on the peeked
// bytes (no byte is written anywhere); "" when there is none or it is cut off.
func serverName(hello []byte) string {
	var name string
	cfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name = h.ServerName
		return nil, errHelloRead
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tls.Server(&helloConn{r: bytes.NewReader(hello)}, cfg).HandshakeContext(ctx)
	return name
}

// helloConn feeds bytes to a TLS server and swallows its answer.
type helloConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *helloConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *helloConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *helloConn) Close() error                     { return nil }
func (c *helloConn) SetDeadline(time.Time) error      { return nil }
func (c *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (c *helloConn) SetWriteDeadline(time.Time) error { return nil }
func (c *helloConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *helloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// allowed decides on a connection the listener does not read as HTTP, as a CONNECT to
// host; a denial is recorded on ex.
func (t *transparent) allowed(ctx context.Context, ex *exchange, host string) bool {
	req := ex.build(pipeline.Outbound, t.f.pipeline(), http.MethodConnect, "tcp", host, "", http.Header{})
	if d := ex.p.Request(ctx, req); d != nil {
		ex.deny(d)
		return false
	}
	return true
}

// tunnel decides on a non-HTTP connection as a CONNECT to host and relays it to dst.
func (t *transparent) tunnel(ctx context.Context, conn net.Conn, dst netip.AddrPort, host string) {
	ex := getExchange(ListenerTransparent, nil)
	defer finish(ex, t.f.c.onDone)
	if !t.allowed(ctx, ex, host) {
		return
	}
	start := time.Now()
	up, err := t.f.dialTunnel(ctx, "tcp", dst.String())
	if err != nil {
		ex.out.Upstream = time.Since(start)
		return
	}
	ex.out.BytesIn, ex.out.BytesOut = relay(ctx, conn, up)
	ex.out.Upstream = time.Since(start)
}

// serveHTTP serves HTTP/1.1 on one redirected connection, every request to dst.
func (t *transparent) serveHTTP(ctx context.Context, conn net.Conn, dst netip.AddrPort) {
	h := &transparentHTTP{f: t.f, dst: dst.String()}
	srv := NewServer(h)
	srv.ErrorLog = stdLogger(t.f.log)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	_ = srv.Serve(newOneConn(conn))
}

type transparentHTTP struct {
	f   *Forward
	dst string
}

func (h *transparentHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := getExchange(ListenerTransparent, w)
	defer finish(ex, h.f.c.onDone)
	ex.close = true
	if r.Method == http.MethodConnect {
		// A CONNECT to an intercepted destination names a second one: refuse.
		closeConn(&ex.w)
		return
	}
	host := r.Host
	if host == "" {
		host = h.dst
	}
	h.f.serveHTTP(ex, r, host, h.dst, false)
}

// oneConn is a listener of one connection: Accept gives it, then waits until it is
// closed, so http.Server.Serve returns when the connection ends.
type oneConn struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
	taken  bool
}

func newOneConn(c net.Conn) *oneConn {
	l := &oneConn{closed: make(chan struct{})}
	l.conn = &notifyConn{Conn: c, l: l}
	return l
}

func (l *oneConn) Accept() (net.Conn, error) {
	if !l.taken {
		l.taken = true
		return l.conn, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	l *oneConn
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	_ = c.l.Close()
	return err
}

func (c *notifyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
