package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/internal/x509test"
)

// seen is what a test backend received.
type seen struct {
	host, path, auth, xff string
	body                  []byte
	contentLength         int64
	header                http.Header
}

func backend(t testing.TB, reply func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Pointer[seen], *atomic.Int32) {
	t.Helper()
	var last atomic.Pointer[seen]
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		last.Store(&seen{host: r.Host, path: r.URL.Path, auth: r.Header.Get("Authorization"), xff: r.Header.Get("X-Forwarded-For"),
			body: body, contentLength: r.ContentLength, header: r.Header.Clone()})
		if reply != nil {
			reply(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "from the agent")
	}))
	t.Cleanup(s.Close)
	return s, &last, &hits
}

func newReverse(t testing.TB, backendURL string, p func() *pipeline.Pipeline, outs *outcomes) *httptest.Server {
	t.Helper()
	u, err := url.Parse(backendURL)
	if err != nil {
		t.Fatal(err)
	}
	o := proxy.ReverseOptions{Backend: u, Pipeline: p}
	if outs != nil {
		o.OnDone = outs.done
	}
	h, err := proxy.NewReverse(o)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, h)
}

type errorBody struct {
	Error, Message, Plugin string
}

func decodeError(t testing.TB, r io.Reader) errorBody {
	t.Helper()
	var e errorBody
	if err := json.NewDecoder(r).Decode(&e); err != nil {
		t.Fatalf("the body is not a JSON error: %v", err)
	}
	return e
}

func TestNewReverseRefuses(t *testing.T) {
	p := pipe(t, pipeline.Inbound, &reqPlugin{name: "a", f: allow})
	for _, tc := range []struct {
		name string
		o    proxy.ReverseOptions
		want string
	}{
		{"no backend", proxy.ReverseOptions{Pipeline: p}, "no backend"},
		{"not http", proxy.ReverseOptions{Backend: &url.URL{Scheme: "ftp", Host: "x"}, Pipeline: p}, "want http"},
		{"no host", proxy.ReverseOptions{Backend: &url.URL{Scheme: "http"}, Pipeline: p}, "want http"},
		{"no pipeline", proxy.ReverseOptions{Backend: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}, "no inbound pipeline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := proxy.NewReverse(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestReverseRequestDecisions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		entries    []pipeline.Entry
		wantStatus int
		wantCode   string // the denial's code in the body and the Outcome
		wantHit    bool
		wantAction pipeline.Action
	}{
		{
			name:       "allow",
			entries:    []pipeline.Entry{{Plugin: &reqPlugin{name: "gate", f: allow}}},
			wantStatus: 200, wantHit: true, wantAction: pipeline.ActionAllow,
		},
		{
			name:       "deny",
			entries:    []pipeline.Entry{{Plugin: &reqPlugin{name: "gate", f: denyAll}}},
			wantStatus: 403, wantCode: pipeline.CodeForbidden, wantAction: pipeline.ActionDeny,
		},
		{
			name:       "observe records the denial and lets the request on",
			entries:    []pipeline.Entry{{Plugin: &reqPlugin{name: "gate", f: denyAll}, OnError: pipeline.Observe}},
			wantStatus: 200, wantHit: true, wantAction: pipeline.ActionShadow,
		},
		{
			name: "unauthorized",
			entries: []pipeline.Entry{{Plugin: &reqPlugin{name: "jwt-validation", f: func(*pipeline.Request) *pipeline.Deny {
				return pipeline.Denied(pipeline.CodeUnauthorized, "missing Authorization header")
			}}}},
			wantStatus: 401, wantCode: pipeline.CodeUnauthorized, wantAction: pipeline.ActionDeny,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, last, hits := backend(t, nil)
			outs := &outcomes{}
			front := newReverse(t, be.URL, pipeEntries(t, pipeline.Inbound, tc.entries...), outs)
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/a/b?q=1", nil)
			req.Host = "agent.example:8000"
			resp, err := plainClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantCode != "" {
				e := decodeError(t, resp.Body)
				if e.Error != tc.wantCode || e.Plugin == "" || e.Message == "" {
					t.Errorf("body %+v, want code %s with message and plugin", e, tc.wantCode)
				}
			} else if got := readAll(t, resp.Body); got != "from the agent" {
				t.Errorf("body %q", got)
			}
			if (hits.Load() == 1) != tc.wantHit {
				t.Fatalf("backend hit %d times, want hit=%v", hits.Load(), tc.wantHit)
			}
			if tc.wantHit {
				s := last.Load()
				beURL, _ := url.Parse(be.URL)
				if s.host != beURL.Host || s.path != "/a/b" || s.xff != "127.0.0.1" {
					t.Errorf("backend saw host %q path %q X-Forwarded-For %q; want the backend's host, /a/b, 127.0.0.1", s.host, s.path, s.xff)
				}
			}
			front.Close()
			all := outs.all()
			if len(all) != 1 {
				t.Fatalf("%d outcomes, want 1", len(all))
			}
			o := all[0]
			if o.Listener != "reverse" || o.Method != "GET" || o.Scheme != "http" || o.Host != "agent.example:8000" || o.Path != "/a/b" ||
				o.Status != tc.wantStatus || o.Denied != tc.wantCode {
				t.Errorf("outcome %+v", o)
			}
			if len(o.Invocations) != 1 || o.Invocations[0].Action != tc.wantAction {
				t.Errorf("invocations %+v, want one %s", o.Invocations, tc.wantAction)
			}
			if o.BytesOut == 0 {
				t.Errorf("no bytes out counted")
			}
		})
	}
}

func TestReverseReplacedAuthorizationReachesBackend(t *testing.T) {
	be, last, _ := backend(t, nil)
	swap := &reqPlugin{name: "token-exchange", f: func(r *pipeline.Request) *pipeline.Deny {
		r.Header.Set("Authorization", "Bearer exchanged")
		return nil
	}}
	front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, swap), nil)
	req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
	req.Header.Set("Authorization", "Bearer original")
	resp, err := plainClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := last.Load().auth; got != "Bearer exchanged" {
		t.Fatalf("backend saw Authorization %q, want the plugin's", got)
	}
}

// unsized hides a body's length, so it is sent chunked.
type unsized struct{ r io.Reader }

func (u unsized) Read(b []byte) (int, error) { return u.r.Read(b) }

func TestReverseRequestBodies(t *testing.T) {
	big := bytes.Repeat([]byte("x"), pipeline.MaxBodyBytes+1)
	exact := bytes.Repeat([]byte("y"), pipeline.MaxBodyBytes)
	for _, tc := range []struct {
		name       string
		reads      bool
		body       io.Reader
		want       []byte
		wantStatus int
	}{
		{"read, sized", true, bytes.NewReader([]byte(`{"jsonrpc":"2.0"}`)), []byte(`{"jsonrpc":"2.0"}`), 200},
		{"read, chunked", true, unsized{bytes.NewReader([]byte("chunked body"))}, []byte("chunked body"), 200},
		{"read, exactly the bound", true, bytes.NewReader(exact), exact, 200},
		{"read, over the bound, sized", true, bytes.NewReader(big), nil, 413},
		{"read, over the bound, chunked", true, unsized{bytes.NewReader(big)}, nil, 413},
		{"not read: streamed however large", false, unsized{bytes.NewReader(big)}, big, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, last, hits := backend(t, nil)
			var sawBody []byte
			p := &reqPlugin{name: "parser", body: tc.reads, f: func(r *pipeline.Request) *pipeline.Deny {
				sawBody = append([]byte(nil), r.Body...)
				return nil
			}}
			outs := &outcomes{}
			front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, p), outs)
			resp, err := plainClient().Post(front.URL+"/mcp", "application/json", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 413 {
				if e := decodeError(t, resp.Body); e.Error != "request body too large" {
					t.Errorf("body %+v", e)
				}
				if hits.Load() != 0 {
					t.Errorf("the backend was called")
				}
				return
			}
			if s := last.Load(); !bytes.Equal(s.body, tc.want) {
				t.Errorf("backend got %d bytes, want %d", len(s.body), len(tc.want))
			}
			if tc.reads && !bytes.Equal(sawBody, tc.want) {
				t.Errorf("plugin saw %d bytes, want %d", len(sawBody), len(tc.want))
			}
			if !tc.reads && sawBody != nil {
				t.Errorf("plugin saw a body it does not read")
			}
			front.Close()
			if o := outs.all()[0]; o.BytesIn != int64(len(tc.want)) {
				t.Errorf("BytesIn %d, want %d", o.BytesIn, len(tc.want))
			}
		})
	}
}

func TestReverseResponsePhase(t *testing.T) {
	big := strings.Repeat("z", pipeline.MaxBodyBytes+1)
	for _, tc := range []struct {
		name       string
		reply      string
		reads      bool
		decide     func(*pipeline.Request) *pipeline.Deny
		wantStatus int
		wantBody   string
		wantCode   string
	}{
		{
			name: "allowed response", reply: "fine", reads: true,
			decide:     func(r *pipeline.Request) *pipeline.Deny { return nil },
			wantStatus: 200, wantBody: "fine",
		},
		{
			name: "denied on the body", reply: "secret stuff", reads: true,
			decide: func(r *pipeline.Request) *pipeline.Deny {
				if bytes.Contains(r.Response.Body, []byte("secret")) {
					return pipeline.Denied(pipeline.CodeContentBlocked, "the response leaks a secret")
				}
				return nil
			},
			wantStatus: 403, wantCode: pipeline.CodeContentBlocked,
		},
		{
			name: "denied on the status, body not read", reply: "whatever",
			decide: func(r *pipeline.Request) *pipeline.Deny {
				if r.Response.Body != nil {
					return pipeline.Denied("test.bug", "body buffered though no plugin reads it")
				}
				if r.Response.StatusCode == 200 && r.Response.Header.Get("X-Backend") == "yes" {
					return pipeline.Denied(pipeline.CodeForbidden, "no")
				}
				return nil
			},
			wantStatus: 403, wantCode: pipeline.CodeForbidden,
		},
		{
			name: "response over the bound", reply: big, reads: true,
			decide:     func(r *pipeline.Request) *pipeline.Deny { return nil },
			wantStatus: 502, wantBody: `{"error":"bad gateway"}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, _, _ := backend(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Backend", "yes")
				_, _ = io.WriteString(w, tc.reply)
			})
			outs := &outcomes{}
			front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, &respPlugin{name: "opa", body: tc.reads, f: tc.decide}), outs)
			resp, err := plainClient().Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantCode != "" {
				if e := decodeError(t, resp.Body); e.Error != tc.wantCode || e.Plugin != "opa" {
					t.Errorf("body %+v", e)
				}
				if resp.Header.Get("X-Backend") != "" {
					t.Errorf("the denial kept the backend's headers")
				}
			} else if got := readAll(t, resp.Body); got != tc.wantBody {
				t.Errorf("body %.60q, want %.60q", got, tc.wantBody)
			}
			front.Close()
			if o := outs.all(); len(o) != 1 || o[0].Status != tc.wantStatus || o[0].Denied != tc.wantCode {
				t.Errorf("outcomes %+v", o)
			}
		})
	}
}

func TestReverseBadGateway(t *testing.T) {
	outs := &outcomes{}
	front := newReverse(t, "http://"+deadAddr(t), pipe(t, pipeline.Inbound, &reqPlugin{name: "a", f: allow}), outs)
	resp, err := plainClient().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 502 || readAll(t, resp.Body) != `{"error":"bad gateway"}`+"\n" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	front.Close()
	if o := outs.all(); len(o) != 1 || o[0].Status != 502 {
		t.Fatalf("outcomes %+v", o)
	}
}

// sseBackend sends events one by one; before each one after the first it waits until
// the client said it read the previous one, so a proxy that buffered would be caught.
func sseBackend(t testing.TB, events []string, ack <-chan struct{}, streamed *atomic.Bool) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Stream", "yes")
		rc := http.NewResponseController(w)
		ok := true
		for i, ev := range events {
			if i > 0 && ack != nil {
				select {
				case <-ack:
				case <-time.After(10 * time.Second):
					ok = false
				case <-r.Context().Done():
					return
				}
			}
			if _, err := io.WriteString(w, ev); err != nil {
				return
			}
			_ = rc.Flush()
		}
		if streamed != nil {
			streamed.Store(ok)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestReverseSSE(t *testing.T) {
	events := []string{"event: message\ndata: one\n\n", "id: 2\r\ndata: two\r\n\r\n", "data: three\n\n"}
	for _, tc := range []struct {
		name       string
		frames     bool
		frameDeny  func(string) *pipeline.Deny
		wantEvents []string
		wantFrames []string
	}{
		{"frame handlers see each event", true, nil, events, []string{"event: message\ndata: one", "id: 2\r\ndata: two", "data: three"}},
		{"no frame handlers: relayed", false, nil, events, nil},
		{
			name: "a frame denial ends the stream with an error event", frames: true,
			frameDeny: func(f string) *pipeline.Deny {
				if strings.Contains(f, "two") {
					return pipeline.Denied(pipeline.CodeContentBlocked, "blocked frame")
				}
				return nil
			},
			wantEvents: []string{events[0], "event: error\ndata: {\"error\":\"policy.content-blocked\",\"message\":\"blocked frame\",\"plugin\":\"sse-guard\"}\n\n"},
			wantFrames: []string{"event: message\ndata: one", "id: 2\r\ndata: two"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack := make(chan struct{}, len(events))
			var streamed atomic.Bool
			be := sseBackend(t, events, ack, &streamed)
			var sawStreaming atomic.Bool
			plugins := []pipeline.Plugin{&respPlugin{name: "opa", body: true, f: func(r *pipeline.Request) *pipeline.Deny {
				sawStreaming.Store(r.Response.Streaming && r.Response.Body == nil)
				return nil
			}}}
			fp := &framePlugin{name: "sse-guard", deny: tc.frameDeny}
			if tc.frames {
				plugins = append(plugins, fp)
			}
			outs := &outcomes{}
			front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, plugins...), outs)
			resp, err := plainClient().Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			var got []string
			for {
				ev := readEvent(t, br)
				if ev == "" {
					break
				}
				got = append(got, ev)
				ack <- struct{}{}
			}
			if strings.Join(got, "|") != strings.Join(tc.wantEvents, "|") {
				t.Fatalf("events %q, want %q", got, tc.wantEvents)
			}
			if tc.frameDeny == nil && !streamed.Load() {
				t.Errorf("the client did not get an event before the backend sent the next: not streamed")
			}
			if !sawStreaming.Load() {
				t.Errorf("the response handler did not run on the SSE headers with Streaming set and no body")
			}
			if tc.frames && strings.Join(fp.frames(), "|") != strings.Join(tc.wantFrames, "|") {
				t.Errorf("frames %q, want %q", fp.frames(), tc.wantFrames)
			}
			front.Close()
			o := outs.all()
			if len(o) != 1 || o[0].Status != 200 {
				t.Fatalf("outcomes %+v", o)
			}
			if tc.frameDeny != nil && o[0].Denied != pipeline.CodeContentBlocked {
				t.Errorf("outcome denial %q", o[0].Denied)
			}
		})
	}
}

func TestReverseSSEResponseDenial(t *testing.T) {
	be := sseBackend(t, []string{"data: one\n\n"}, nil, nil)
	gate := &respPlugin{name: "opa", f: func(r *pipeline.Request) *pipeline.Deny {
		if r.Response.Streaming {
			return pipeline.Denied(pipeline.CodeForbidden, "no streams")
		}
		return nil
	}}
	fp := &framePlugin{name: "frames"}
	front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, gate, fp), nil)
	resp, err := plainClient().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Stream") != "" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if e := decodeError(t, resp.Body); e.Error != pipeline.CodeForbidden || e.Plugin != "opa" {
		t.Errorf("body %+v", e)
	}
	if len(fp.frames()) != 0 {
		t.Errorf("frames ran on a denied stream")
	}
}

func TestReverseSSEEventOverBoundEndsStream(t *testing.T) {
	huge := "data: " + strings.Repeat("h", pipeline.MaxBodyBytes+10) + "\n\n"
	be := sseBackend(t, []string{"data: one\n\n", huge, "data: after\n\n"}, nil, nil)
	fp := &framePlugin{name: "frames"}
	front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, fp), nil)
	resp, err := plainClient().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := readAll(t, resp.Body); got != "data: one\n\n" {
		t.Fatalf("stream %.80q, want only the first event", got)
	}
}

func TestReversePeerFromClientSVID(t *testing.T) {
	be, _, _ := backend(t, nil)
	u, _ := url.Parse(be.URL)
	outs := &outcomes{}
	h, err := proxy.NewReverse(proxy.ReverseOptions{Backend: u, Pipeline: pipe(t, pipeline.Inbound, &reqPlugin{name: "a", f: allow}), OnDone: outs.done})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(h)
	front.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	front.StartTLS()
	defer front.Close()

	ca := x509test.NewSPIFFECA(t, "example.org")
	svid := ca.SVID(t, "spiffe://example.org/ns/team/sa/caller", x509test.Options{})
	roots := x509.NewCertPool()
	roots.AddCert(front.Certificate())
	client := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{svid.Certificates[0].Raw}, PrivateKey: svid.PrivateKey}},
	}}}
	resp, err := client.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	front.Close()
	o := outs.all()
	if len(o) != 1 || o[0].Scheme != "https" || o[0].Peer != "spiffe://example.org/ns/team/sa/caller" {
		t.Fatalf("outcomes %+v", o)
	}
}

func TestReverseIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://"+deadAddr(t))
	t.Setenv("http_proxy", "http://"+deadAddr(t))
	t.Setenv("NO_PROXY", "")
	be, _, hits := backend(t, nil)
	front := newReverse(t, be.URL, pipe(t, pipeline.Inbound, &reqPlugin{name: "a", f: allow}), nil)
	resp, err := plainClient().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || hits.Load() != 1 {
		t.Fatalf("status %d, backend hits %d: the reverse proxy went through HTTP_PROXY", resp.StatusCode, hits.Load())
	}
}

func TestNewServer(t *testing.T) {
	s := proxy.NewServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout != 10*time.Second || s.IdleTimeout != 5*time.Minute || s.MaxHeaderBytes != 64<<10 ||
		s.ReadTimeout != 0 || s.WriteTimeout != 0 {
		t.Fatalf("server %+v", s)
	}
}
