package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// Listener names, as Outcome.Listener reports them.
const (
	ListenerReverse     = "reverse"
	ListenerForward     = "forward"
	ListenerTransparent = "transparent"
)

const (
	dialTimeout     = 10 * time.Second
	tunnelIdle      = 5 * time.Minute
	peekTimeout     = 5 * time.Second
	peekBytes       = 8 << 10
	copyBufferBytes = 32 << 10
	defaultMaxConns = 4096
)

// Outcome is what a listener reports when an exchange ends (for the access log and
// metrics). It and its Request are valid only during the OnDone call: they are reused.
type Outcome struct {
	Listener string            // "reverse", "forward", "transparent"
	Request  *pipeline.Request // nil only when no Request was built (e.g. 400 before)
	Status   int               // status sent to the client (0 for a tunnel/closed conn)
	Denied   *pipeline.Deny    // the enforced denial, if any
	Duration time.Duration
	// Upstream is the time in the backend/destination: until the response headers for
	// HTTP, the tunnel's lifetime for a tunnel.
	Upstream          time.Duration
	BytesIn, BytesOut int64
}

// NewServer is the http.Server for a listener's handler: headers within 10 s, idle
// connections kept 5 minutes, and no read or write timeout, because responses may be
// streams that last.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// dialFunc dials a network address.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// plainDial is the default: TCP within the dial timeout.
var plainDial dialFunc = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext

// bounded gives a caller's dialer the dial timeout.
func bounded(d dialFunc) dialFunc {
	if d == nil {
		return plainDial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		return d(ctx, network, addr)
	}
}

// NewTransport is the tuned transport of the listeners: a large idle pool per host
// (upstream's default of 2 churns connections under concurrency), no proxy (the
// sidecar must never send its traffic through its own HTTP_PROXY), no compression
// added, HTTP/1.1, and no response-header timeout, because a response may be a stream.
// dial nil is plain TCP.
func NewTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           bounded(dial),
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// Bodies of the listeners' own errors.
var (
	bodyBadGateway       = []byte(`{"error":"bad gateway"}` + "\n")
	bodyRequestTooLarge  = []byte(`{"error":"request body too large"}` + "\n")
	bodyResponseTooLarge = []byte(`{"error":"response body too large"}` + "\n")
	bodyNotAbsolute      = []byte(`{"error":"the forward proxy takes absolute-form http:// requests and CONNECT"}` + "\n")
	bodyBadAuthority     = []byte(`{"error":"CONNECT needs host:port"}` + "\n")
	bodyNoHijack         = []byte(`{"error":"connect not supported by listener"}` + "\n")
)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h["Content-Length"] = []string{itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

var errResponseTooLarge = errors.New("response body over 1 MiB")

// statusWriter records what is sent to the client. It unwraps for
// http.ResponseController (flushes, hijacks).
type statusWriter struct {
	w      http.ResponseWriter
	status int
	n      int64
}

func (s *statusWriter) Header() http.Header { return s.w.Header() }

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.w.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.w.Write(b)
	s.n += int64(n)
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.w }

// exchange is one exchange's state, pooled: the Request and Outcome handed to plugins
// and OnDone are reused once OnDone returns.
type exchange struct {
	req      pipeline.Request
	resp     pipeline.Response
	out      Outcome
	w        statusWriter
	p        *pipeline.Pipeline
	built    bool
	bypass   bool // skip_hosts: no pipeline on the response either
	close    bool // transparent: a denial closes the connection
	target   string
	peer     *pipeline.Peer
	start    time.Time
	upStart  time.Time
	bodyRead *countingBody
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func getExchange(listener string, w http.ResponseWriter) *exchange {
	ex := exchanges.Get().(*exchange)
	ex.out.Listener = listener
	ex.w.w = w
	ex.start = time.Now()
	return ex
}

func (ex *exchange) deny(d *pipeline.Deny) { ex.out.Denied = d }

// build starts the Request of the exchange.
func (ex *exchange) build(d pipeline.Direction, p *pipeline.Pipeline, method, scheme, host, path string, h http.Header) *pipeline.Request {
	ex.p = p
	ex.built = true
	r := &ex.req
	r.Direction, r.Method, r.Scheme, r.Host, r.Path, r.Header = d, method, scheme, host, path, h
	return r
}

// finish reports the Outcome and returns the exchange to the pool.
func finish(ex *exchange, onDone func(*Outcome)) {
	if onDone != nil {
		o := &ex.out
		o.Duration = time.Since(ex.start)
		o.Status = ex.w.status
		o.BytesOut += ex.w.n
		if ex.bodyRead != nil {
			o.BytesIn += ex.bodyRead.n.Load()
		}
		if ex.built {
			o.Request = &ex.req
		}
		onDone(o)
	}
	inv := ex.req.Invocations[:0]
	*ex = exchange{}
	ex.req.Invocations = inv
	exchanges.Put(ex)
}

// countingBody counts a streamed request body. It is not pooled: the transport may
// still read it after the handler returned.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.rc.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// exKey finds the exchange in a request's context.
type exKey struct{}

type exCtx struct {
	context.Context
	ex *exchange
}

func (c *exCtx) Value(k any) any {
	if _, ok := k.(exKey); ok {
		return c.ex
	}
	return c.Context.Value(k)
}

func exchangeOf(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exKey{}).(*exchange)
	return ex
}

// peerOf is the SPIFFE ID of a TLS connection's peer leaf; the TLS configuration (the
// mTLS listener or dialer) verified it.
func peerOf(cs *tls.ConnectionState) *pipeline.Peer {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	id, err := x509svid.IDFromCert(cs.PeerCertificates[0])
	if err != nil {
		return nil
	}
	return &pipeline.Peer{SPIFFEID: id.String()}
}

// bufferPool is httputil.ReverseProxy's copy buffers (and the tunnels'), so a
// request allocates none: it pools arrays, which a slice converts back to for free.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferBytes]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferBytes]byte)[:] }

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferBytes {
		b.p.Put((*[copyBufferBytes]byte)(buf[:copyBufferBytes]))
	}
}

var copyBuffers = newBufferPool()

// logWriter sends httputil's log lines to a logr logger at V(1): they are
// per-request (a client that went away mid-copy) and the Outcome already says it.
type logWriter struct{ log logr.Logger }

func (l logWriter) Write(b []byte) (int, error) {
	l.log.V(1).Info(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func stdLogger(l logr.Logger) *log.Logger { return log.New(logWriter{l}, "", 0) }

// readBody buffers the request body for the plugins, at most MaxBodyBytes; over it,
// it answers 413 and returns false.
func readBody(ex *exchange, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > pipeline.MaxBodyBytes {
		writeJSON(&ex.w, http.StatusRequestEntityTooLarge, bodyRequestTooLarge)
		return false
	}
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1
	}
	body, err := readBounded(r.Body, size)
	ex.out.BytesIn = int64(len(body))
	if errors.Is(err, errTooLarge) {
		writeJSON(&ex.w, http.StatusRequestEntityTooLarge, bodyRequestTooLarge)
		return false
	}
	if err != nil {
		// The client went away or sent a broken body.
		writeJSON(&ex.w, http.StatusBadRequest, []byte(`{"error":"the request body could not be read"}`+"\n"))
		return false
	}
	ex.req.Body = body
	return true
}

var errTooLarge = errors.New("over MaxBodyBytes")

// readBounded reads r to its end, at most MaxBodyBytes.
func readBounded(r io.Reader, size int) ([]byte, error) {
	size = min(size, pipeline.MaxBodyBytes+1)
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, pipeline.MaxBodyBytes+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > pipeline.MaxBodyBytes {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// setBody gives the backend what the plugins saw (a plugin may have replaced it), or
// counts a streamed body.
func setBody(ex *exchange, r *http.Request) {
	if ex.req.Body != nil {
		r.Body = io.NopCloser(bytes.NewReader(ex.req.Body))
		r.ContentLength = int64(len(ex.req.Body))
		r.TransferEncoding = nil
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		ex.bodyRead = &countingBody{rc: r.Body}
		r.Body = ex.bodyRead
	}
}
