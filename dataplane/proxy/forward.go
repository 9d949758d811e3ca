package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// ForwardOptions configure the outbound forward proxy (HTTP_PROXY, HTTPS_PROXY).
type ForwardOptions struct {
	// Pipeline is the current outbound pipeline (swapped on reload; never nil).
	Pipeline func() *pipeline.Pipeline
	// SkipHosts is listener.skip_hosts: forward HTTP and CONNECT to these hosts bypass
	// the pipeline (the transparent listener never does).
	SkipHosts []string
	// DialPeer dials http:// destinations (strict mTLS gives a TLS dialer); nil is
	// plain TCP.
	DialPeer func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTunnel dials CONNECT and transparent tunnels (the agent's own bytes, never
	// mesh mTLS); nil is plain TCP.
	DialTunnel func(ctx context.Context, network, addr string) (net.Conn, error)
	// Bridge, when set, is the TLS bridge (tls_bridge): CONNECTs it intercepts and
	// whose client speaks TLS are terminated, and their requests served with the
	// outbound pipeline and re-originated over verified TLS.
	Bridge Bridge
	// OnDone is called synchronously at the end of each exchange; it must be cheap and
	// must not keep the Outcome.
	OnDone func(*Outcome)
	Log    logr.Logger
}

// Bridge is the TLS bridge as the forward proxy uses it (dataplane/tlsbridge.Bridge).
type Bridge interface {
	// Intercepts reports whether a CONNECT to hostport would be terminated if its
	// client speaks TLS (a bridge port; not a passthrough or skipped host).
	Intercepts(hostport string) bool
	// Terminates decides on the client's first bytes (at least the 5 of a TLS record
	// header when it sent that many).
	Terminates(hostport string, first []byte) bool
	// Handshake terminates the client's TLS, bounded; on failure the host is skipped
	// from then on for a while.
	Handshake(ctx context.Context, client net.Conn, hostport string) (*tls.Conn, error)
	// UpstreamTLS is the verifying client configuration of the re-originated requests.
	UpstreamTLS() *tls.Config
}

// Forward is the outbound proxy's handler: absolute-form HTTP requests and CONNECT
// tunnels; ServeTransparent serves the transparent listener with it too.
type Forward struct {
	pipeline   func() *pipeline.Pipeline
	skip       []*sidecarconfig.HostPattern
	dialTunnel dialFunc
	c          *core
	bridge     Bridge
	// bc is the core of bridged requests: https to the CONNECT's destination.
	bc  *core
	log logr.Logger
}

// NewForward makes the forward proxy.
func NewForward(o ForwardOptions) (*Forward, error) {
	if o.Pipeline == nil {
		return nil, errors.New("forward proxy: no outbound pipeline")
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	f := &Forward{pipeline: o.Pipeline, dialTunnel: bounded(o.DialTunnel), log: o.Log}
	for i, s := range o.SkipHosts {
		p, err := sidecarconfig.CompileHostPattern(s)
		if err != nil {
			return nil, fmt.Errorf("forward proxy skip_hosts[%d]: %w", i, err)
		}
		f.skip = append(f.skip, p)
	}
	rewrite := func(ex *exchange, pr *httputil.ProxyRequest) {
		// The destination is the exchange's target, whatever the request says: on the
		// transparent listener that is the original destination, not the Host header.
		u := pr.Out.URL
		u.Scheme, u.Host, u.User = "http", ex.target, nil
		pr.Out.Host = pr.In.Host
	}
	f.c = newCore(NewTransport(o.DialPeer), rewrite, o.OnDone, bodyResponseTooLarge, o.DialPeer != nil, o.Log)
	if o.Bridge != nil {
		f.bridge = o.Bridge
		f.bc = f.bridgeCore(f.dialTunnel)
	}
	return f, nil
}

// bridgeCore is a core for bridged requests: https to the exchange's target, reached
// with dial (the agent's own destination, as a tunnel reaches it: never the mesh's
// mutual TLS), TLS verified with the bridge's roots and the target's host as SNI.
func (f *Forward) bridgeCore(dial dialFunc) *core {
	t := NewTransport(dial)
	t.TLSClientConfig = f.bridge.UpstreamTLS().Clone()
	return newCore(t, func(ex *exchange, pr *httputil.ProxyRequest) {
		u := pr.Out.URL
		u.Scheme, u.Host, u.User = "https", ex.target, nil
		pr.Out.Host = pr.In.Host
	}, f.c.onDone, bodyResponseTooLarge, false, f.log)
}

func (f *Forward) skips(host string) bool {
	for _, p := range f.skip {
		if p.Match(host) {
			return true
		}
	}
	return false
}

// ServeHTTP serves an absolute-form request or a CONNECT.
func (f *Forward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := getExchange(ListenerForward, w)
	defer finish(ex, f.c.onDone)
	if r.Method == http.MethodConnect {
		f.connect(ex, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		writeJSON(&ex.w, http.StatusBadRequest, bodyNotAbsolute)
		return
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	f.serveHTTP(ex, r, host, r.URL.Host, true)
}

// serveHTTP runs the outbound pipeline on r and sends it to target over http.
func (f *Forward) serveHTTP(ex *exchange, r *http.Request, host, target string, skippable bool) {
	f.serveVia(f.c, "http", ex, r, host, target, skippable)
}

// serveVia runs the outbound pipeline on r and sends it to target through c.
func (f *Forward) serveVia(c *core, scheme string, ex *exchange, r *http.Request, host, target string, skippable bool) {
	req := ex.build(pipeline.Outbound, f.pipeline(), r.Method, scheme, host, r.URL.Path, r.Header)
	ex.target = target
	if skippable && f.skips(host) {
		ex.bypass = true
		setBody(ex, r)
		c.forward(ex, r)
		return
	}
	if ex.p.ReadsBody() && !readBody(ex, r) {
		return
	}
	if d := ex.p.Request(r.Context(), req); d != nil {
		ex.deny(d)
		if ex.close {
			closeConn(&ex.w)
			return
		}
		d.WriteFor(&ex.w, req)
		return
	}
	setBody(ex, r)
	c.forward(ex, r)
}

// closeConn drops the client connection without a byte, as the transparent listener
// answers a denial.
func closeConn(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = c.Close()
	}
}

// connect serves CONNECT host:port: the pipeline decides on the CONNECT itself, then a
// blind tunnel, or the TLS bridge when it intercepts the destination.
func (f *Forward) connect(ex *exchange, r *http.Request) {
	req := ex.build(pipeline.Outbound, f.pipeline(), http.MethodConnect, "tcp", r.Host, "", r.Header)
	if _, _, err := net.SplitHostPort(r.Host); err != nil {
		writeJSON(&ex.w, http.StatusBadRequest, bodyBadAuthority)
		return
	}
	if !f.skips(r.Host) {
		if d := ex.p.Request(r.Context(), req); d != nil {
			ex.deny(d)
			d.WriteFor(&ex.w, req)
			return
		} else if f.bridge != nil && f.bridge.Intercepts(r.Host) {
			// skip_hosts bypass the pipeline: nothing to decrypt for.
			f.bridgeConnect(ex, r)
			return
		}
	}
	start := time.Now()
	up, err := f.dialTunnel(r.Context(), "tcp", r.Host)
	if err != nil {
		ex.out.Upstream = time.Since(start)
		writeJSON(&ex.w, http.StatusBadGateway, bodyBadGateway)
		return
	}
	conn, brw, err := http.NewResponseController(&ex.w).Hijack()
	if err != nil {
		_ = up.Close()
		writeJSON(&ex.w, http.StatusInternalServerError, bodyNoHijack)
		return
	}
	client, err := established(conn, brw)
	if err != nil {
		_ = conn.Close()
		_ = up.Close()
		return
	}
	ex.out.BytesIn, ex.out.BytesOut = relay(r.Context(), client, up)
	ex.out.Upstream = time.Since(start)
}

// established answers a hijacked CONNECT with 200 and returns the client's connection,
// the bytes it sent after the CONNECT head (already in the server's reader) first.
func established(conn net.Conn, brw *bufio.ReadWriter) (net.Conn, error) {
	_ = conn.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if n := brw.Reader.Buffered(); n > 0 {
		return &peekedConn{Conn: conn, r: io.MultiReader(io.LimitReader(brw.Reader, int64(n)), conn)}, nil
	}
	return conn, nil
}

// bridgeConnect serves an allowed CONNECT the TLS bridge intercepts, in upstream's
// order: 200, then a look at the client's first bytes (a TLS record header, within
// bridgePeekTimeout), then the bridge's decision. Terminated, the decrypted HTTP/1.1
// requests are served by serveBridged; otherwise the connection is tunnelled blind as
// any CONNECT, except that the destination is dialed after the 200, so an unreachable
// one closes the connection rather than answer 502.
func (f *Forward) bridgeConnect(ex *exchange, r *http.Request) {
	conn, brw, err := http.NewResponseController(&ex.w).Hijack()
	if err != nil {
		writeJSON(&ex.w, http.StatusInternalServerError, bodyNoHijack)
		return
	}
	stop := context.AfterFunc(r.Context(), func() { _ = conn.Close() })
	defer stop()
	client, err := established(conn, brw)
	if err != nil {
		_ = conn.Close()
		return
	}
	br := bufio.NewReaderSize(client, 64)
	_ = conn.SetReadDeadline(time.Now().Add(bridgePeekTimeout))
	first, alive := peekRecord(br)
	_ = conn.SetReadDeadline(time.Time{})
	if !alive {
		_ = conn.Close()
		return
	}
	pc := &peekedConn{Conn: conn, r: br}
	start := time.Now()
	if f.bridge.Terminates(r.Host, first) {
		f.serveBridged(ex, r, pc)
		ex.out.Upstream = time.Since(start)
		return
	}
	up, err := f.dialTunnel(r.Context(), "tcp", r.Host)
	if err != nil {
		ex.out.Upstream = time.Since(start)
		_ = conn.Close()
		return
	}
	ex.out.BytesIn, ex.out.BytesOut = relay(r.Context(), pc, up)
	ex.out.Upstream = time.Since(start)
}

// bridgePeekTimeout bounds the wait for a bridged CONNECT's first bytes; a client
// silent that long (one waiting for the server to speak) is tunnelled blind.
const bridgePeekTimeout = 10 * time.Second

// peekRecord reads ahead up to a TLS record header (5 bytes), stopping at a first byte
// that is no handshake record's. alive is false when the client closed before a byte.
func peekRecord(br *bufio.Reader) (first []byte, alive bool) {
	b, err := br.Peek(1)
	if err != nil {
		var ne net.Error
		return nil, errors.As(err, &ne) && ne.Timeout()
	}
	if b[0] != 0x16 {
		return b, true
	}
	b, _ = br.Peek(5)
	return b, true
}

// serveBridged terminates the client's TLS and serves the decrypted HTTP/1.1 on it,
// each request an exchange of its own. A failed handshake drops the connection (the
// bridge skips the host from then on).
func (f *Forward) serveBridged(ex *exchange, r *http.Request, conn net.Conn) {
	tc, err := f.bridge.Handshake(r.Context(), conn, r.Host)
	if err != nil {
		_ = conn.Close()
		return
	}
	serveDecrypted(r.Context(), tc, &bridged{f: f, c: f.bc, listener: ListenerForward, hostport: r.Host}, f.log)
}

// serveDecrypted serves HTTP/1.1 on a terminated TLS connection until it ends: headers
// within 10 s, idle 5 minutes at most.
func serveDecrypted(ctx context.Context, tc *tls.Conn, h http.Handler, l logr.Logger) {
	srv := NewServer(h)
	srv.ErrorLog = stdLogger(l)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	_ = srv.Serve(newOneConn(tc))
}

// bridged serves the requests of one terminated connection.
type bridged struct {
	f        *Forward
	c        *core
	listener string
	// hostport is the policy's host and the target: the CONNECT's, or on the
	// transparent listener the SNI with the original destination's port.
	hostport string
}

// ServeHTTP runs the unchanged outbound pipeline on a decrypted request (host the
// connection's host:port, scheme https) and re-originates it over verified TLS to that
// destination, whatever the request's Host header says.
func (h *bridged) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := getExchange(h.listener, w)
	defer finish(ex, h.f.c.onDone)
	if r.Method == http.MethodConnect {
		writeJSON(&ex.w, http.StatusBadRequest, bodyBridgedConnect)
		return
	}
	if !sameAuthority(r.Host, h.hostport) {
		// The policy decides on the session's host, and the destination would route
		// by this Host header (domain fronting).
		writeJSON(&ex.w, http.StatusMisdirectedRequest, bodyMisdirected)
		return
	}
	h.f.serveVia(h.c, "https", ex, r, h.hostport, h.hostport, false)
}

var (
	bodyBridgedConnect = []byte(`{"error":"CONNECT inside a bridged TLS session"}` + "\n")
	bodyMisdirected    = []byte(`{"error":"the request's Host is not the host of its TLS session"}` + "\n")
)

// sameAuthority reports whether a request's Host header names hostport (host:port of
// the session): the same host, case-insensitively, and the same port, 443 when the
// header has none. An empty header (HTTP/1.0) names the session's host.
func sameAuthority(hostHeader, hostport string) bool {
	if hostHeader == "" {
		return true
	}
	wantHost, wantPort, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(hostHeader)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostHeader, "["), "]"), "443"
	}
	return port == wantPort && strings.EqualFold(strings.TrimSuffix(host, "."), strings.TrimSuffix(wantHost, "."))
}

// relay copies both ways until both sides are done, each read within the idle
// timeout, and closes both; a cancelled ctx closes them at once. It returns the bytes
// from the client and to it.
func relay(ctx context.Context, client, up net.Conn) (in, out int64) {
	stop := context.AfterFunc(ctx, func() { _ = client.Close(); _ = up.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in = copyIdle(up, client)
		closeWrite(up)
	}()
	out = copyIdle(client, up)
	closeWrite(client)
	wg.Wait()
	_ = client.Close()
	_ = up.Close()
	return in, out
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// copyIdle copies src to dst until either ends or src is idle for tunnelIdle.
func copyIdle(dst, src net.Conn) int64 {
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	var total int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(tunnelIdle))
		n, err := src.Read(buf)
		if n > 0 {
			_ = dst.SetWriteDeadline(time.Now().Add(tunnelIdle))
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total
			}
		}
		if err != nil {
			return total
		}
	}
}

// peekedConn is a connection some of whose bytes were read ahead.
type peekedConn struct {
	net.Conn
	r io.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *peekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
