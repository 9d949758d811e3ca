package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/go-logr/logr"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// ReverseOptions configure the inbound reverse proxy in front of the agent.
type ReverseOptions struct {
	// Backend is listener.reverse_proxy_backend, the agent (required).
	Backend *url.URL
	// Pipeline is the current inbound pipeline (swapped on reload; never nil).
	Pipeline func() *pipeline.Pipeline
	// Transport defaults to NewTransport(nil).
	Transport http.RoundTripper
	// OnDone is called synchronously at the end of each exchange; it must be cheap and
	// must not keep the Outcome.
	OnDone func(*Outcome)
	Log    logr.Logger
}

type reverse struct {
	pipeline func() *pipeline.Pipeline
	c        *core
}

// NewReverse is the inbound listener's handler: it runs the inbound pipeline on each
// request and its response and forwards what it allows to the backend, with the Host
// rewritten to the backend's, as upstream.
func NewReverse(o ReverseOptions) (http.Handler, error) {
	b := o.Backend
	if b == nil {
		return nil, errors.New("reverse proxy: no backend (listener.reverse_proxy_backend)")
	}
	if (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" {
		return nil, fmt.Errorf("reverse proxy backend %q: want http://host:port or https://host:port", b.Redacted())
	}
	if o.Pipeline == nil {
		return nil, errors.New("reverse proxy: no inbound pipeline")
	}
	if o.Transport == nil {
		o.Transport = NewTransport(nil)
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	backend := *b
	rewrite := func(_ *exchange, pr *httputil.ProxyRequest) {
		pr.SetURL(&backend)
		pr.SetXForwarded()
	}
	return &reverse{pipeline: o.Pipeline, c: newCore(o.Transport, rewrite, o.OnDone, nil, false, o.Log)}, nil
}

func (rv *reverse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := getExchange(ListenerReverse, w)
	defer finish(ex, rv.c.onDone)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := ex.build(pipeline.Inbound, rv.pipeline(), r.Method, scheme, r.Host, r.URL.Path, r.Header)
	if r.TLS != nil {
		req.Peer = peerOf(r.TLS)
	}
	if ex.p.ReadsBody() && !readBody(ex, r) {
		return
	}
	if d := ex.p.Request(r.Context(), req); d != nil {
		ex.deny(d)
		d.WriteFor(&ex.w, req)
		return
	}
	setBody(ex, r)
	rv.c.forward(ex, r)
}
