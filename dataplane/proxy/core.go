package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// core is what the reverse and forward proxies share: the httputil.ReverseProxy and
// the response phase.
type core struct {
	rp     *httputil.ReverseProxy
	onDone func(*Outcome)
	// tooLarge is the body of the 502 for a response over MaxBodyBytes.
	tooLarge []byte
	// tracePeer reads the callee's SVID off the connection (only a TLS dialer has one).
	tracePeer bool
}

func newCore(rt http.RoundTripper, rewrite func(*exchange, *httputil.ProxyRequest), onDone func(*Outcome), tooLarge []byte, tracePeer bool, l logr.Logger) *core {
	c := &core{onDone: onDone, tooLarge: tooLarge, tracePeer: tracePeer}
	c.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			ex := exchangeOf(pr.In.Context())
			ex.upStart = time.Now()
			rewrite(ex, pr)
		},
		Transport: rt,
		// 0, not upstream's -1: ReverseProxy flushes streamed responses (SSE, no
		// Content-Length) after every write anyway, and a sized response is then sent
		// in one write instead of a flush per copied chunk.
		FlushInterval:  0,
		BufferPool:     copyBuffers,
		ErrorLog:       stdLogger(l),
		ModifyResponse: c.modifyResponse,
		ErrorHandler:   c.errorHandler,
	}
	return c
}

// forward sends r on and relays the response through the response phase.
func (c *core) forward(ex *exchange, r *http.Request) {
	if !ex.bypass && ex.p.ReadsResponseBody() {
		// The plugins read bodies as sent: no compressed ones.
		r.Header.Del("Accept-Encoding")
	}
	var ctx context.Context = &exCtx{Context: r.Context(), ex: ex}
	if c.tracePeer {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if tc, ok := info.Conn.(*tls.Conn); ok {
				cs := tc.ConnectionState()
				ex.peer = peerOf(&cs)
			}
		}})
	}
	c.rp.ServeHTTP(&ex.w, r.WithContext(ctx))
}

func (c *core) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeOf(r.Context())
	if ex != nil && !ex.upStart.IsZero() && ex.out.Upstream == 0 {
		ex.out.Upstream = time.Since(ex.upStart)
	}
	if errors.Is(err, errResponseTooLarge) && c.tooLarge != nil {
		writeJSON(w, http.StatusBadGateway, c.tooLarge)
		return
	}
	writeJSON(w, http.StatusBadGateway, bodyBadGateway)
}

func isSSE(h http.Header) bool {
	ct := h.Get("Content-Type")
	const sse = "text/event-stream"
	return len(ct) >= len(sse) && strings.EqualFold(ct[:len(sse)], sse)
}

// modifyResponse is the response phase: the response handlers on the status and
// headers (and the buffered body when a plugin reads it), or, for an SSE stream, on
// the status and headers before anything is sent and the frame handlers on each event.
func (c *core) modifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	ex := exchangeOf(ctx)
	ex.out.Upstream = time.Since(ex.upStart)
	if ex.bypass {
		return nil
	}
	req, p := &ex.req, ex.p
	if ex.peer != nil {
		req.Peer = ex.peer
	}
	ex.resp = pipeline.Response{StatusCode: resp.StatusCode, Header: resp.Header}
	req.Response = &ex.resp
	if isSSE(resp.Header) {
		ex.resp.Streaming = true
		if d := p.Response(ctx, req); d != nil {
			ex.deny(d)
			replace(resp, d, req)
			return nil
		}
		if p.Streams() {
			resp.Body = newFramer(ctx, resp.Body, ex)
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	if p.ReadsResponseBody() && resp.Body != nil && resp.Body != http.NoBody {
		size := 4096
		if resp.ContentLength > 0 {
			size = int(min(resp.ContentLength, pipeline.MaxBodyBytes)) + 1
		}
		body, err := readBounded(resp.Body, size)
		_ = resp.Body.Close()
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return errResponseTooLarge
			}
			return err
		}
		ex.resp.Body = body
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", itoa(len(body)))
		resp.TransferEncoding = nil
	}
	if d := p.Response(ctx, req); d != nil {
		ex.deny(d)
		replace(resp, d, req)
	}
	return nil
}

// replace makes resp the rendered denial.
func replace(resp *http.Response, d *pipeline.Deny, req *pipeline.Request) {
	rec := &recorder{h: make(http.Header, 3)}
	d.WriteFor(rec, req)
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	resp.StatusCode = rec.status
	resp.Status = itoa(rec.status) + " " + http.StatusText(rec.status)
	resp.Header = rec.h
	resp.Trailer = nil
	resp.TransferEncoding = nil
	resp.ContentLength = int64(rec.body.Len())
	resp.Body = io.NopCloser(bytes.NewReader(rec.body.Bytes()))
}

// recorder captures a rendered denial.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
