package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
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
	// OnDone is called synchronously at the end of each exchange; it must be cheap and
	// must not keep the Outcome.
	OnDone func(*Outcome)
	Log    logr.Logger
}

// Forward is the outbound proxy's handler: absolute-form HTTP requests and CONNECT
// tunnels; ServeTransparent serves the transparent listener with it too.
type Forward struct {
	pipeline   func() *pipeline.Pipeline
	skip       []*sidecarconfig.HostPattern
	dialTunnel dialFunc
	c          *core
	log        logr.Logger
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
	return f, nil
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

// serveHTTP runs the outbound pipeline on r and sends it to target.
func (f *Forward) serveHTTP(ex *exchange, r *http.Request, host, target string, skippable bool) {
	req := ex.build(pipeline.Outbound, f.pipeline(), r.Method, "http", host, r.URL.Path, r.Header)
	ex.target = target
	if skippable && f.skips(host) {
		ex.bypass = true
		setBody(ex, r)
		f.c.forward(ex, r)
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
	f.c.forward(ex, r)
}

// closeConn drops the client connection without a byte, as the transparent listener
// answers a denial.
func closeConn(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = c.Close()
	}
}

// connect serves CONNECT host:port: the pipeline decides on the CONNECT itself, then a
// blind tunnel.
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
	_ = conn.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		_ = conn.Close()
		_ = up.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	// Bytes the client sent after the CONNECT head are in the server's reader.
	var client net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		client = &peekedConn{Conn: conn, r: io.MultiReader(io.LimitReader(brw.Reader, int64(n)), conn)}
	}
	ex.out.BytesIn, ex.out.BytesOut = relay(r.Context(), client, up)
	ex.out.Upstream = time.Since(start)
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
