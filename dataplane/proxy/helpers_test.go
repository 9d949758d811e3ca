package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/internal/waitfor"
)

// Test plugins: each implements only the capability it is named for.

type reqPlugin struct {
	name string
	body bool
	f    func(*pipeline.Request) *pipeline.Deny
}

func (p *reqPlugin) Name() string    { return p.name }
func (p *reqPlugin) ReadsBody() bool { return p.body }
func (p *reqPlugin) OnRequest(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	return p.f(r)
}

type respPlugin struct {
	name string
	body bool
	f    func(*pipeline.Request) *pipeline.Deny
}

func (p *respPlugin) Name() string            { return p.name }
func (p *respPlugin) ReadsResponseBody() bool { return p.body }
func (p *respPlugin) OnResponse(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	return p.f(r)
}

type framePlugin struct {
	name string
	mu   sync.Mutex
	seen []string
	deny func(frame string) *pipeline.Deny
}

func (p *framePlugin) Name() string { return p.name }
func (p *framePlugin) OnFrame(_ context.Context, _ *pipeline.Request, frame []byte) *pipeline.Deny {
	p.mu.Lock()
	p.seen = append(p.seen, string(frame))
	p.mu.Unlock()
	if p.deny != nil {
		return p.deny(string(frame))
	}
	return nil
}

func (p *framePlugin) frames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func allow(*pipeline.Request) *pipeline.Deny { return nil }

func denyAll(*pipeline.Request) *pipeline.Deny {
	return pipeline.Denied(pipeline.CodeForbidden, "not allowed here")
}

// pipe builds a fixed pipeline of plugins, each enforced.
func pipe(t testing.TB, d pipeline.Direction, plugins ...pipeline.Plugin) func() *pipeline.Pipeline {
	t.Helper()
	var entries []pipeline.Entry
	for _, p := range plugins {
		entries = append(entries, pipeline.Entry{Plugin: p})
	}
	return pipeEntries(t, d, entries...)
}

func pipeEntries(t testing.TB, d pipeline.Direction, entries ...pipeline.Entry) func() *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(d, entries)
	if err != nil {
		t.Fatal(err)
	}
	return func() *pipeline.Pipeline { return p }
}

// outcome is a copy of what OnDone saw (the Outcome itself is reused).
type outcome struct {
	Listener, Method, Scheme, Host, Path string
	Built                                bool
	Status                               int
	Denied                               string
	Peer                                 string
	BytesIn, BytesOut                    int64
	Invocations                          []pipeline.Invocation
	Upstream                             time.Duration
}

type outcomes struct {
	mu   sync.Mutex
	list []outcome
}

func (o *outcomes) done(out *proxy.Outcome) {
	c := outcome{Listener: out.Listener, Status: out.Status, BytesIn: out.BytesIn, BytesOut: out.BytesOut, Upstream: out.Upstream}
	if r := out.Request; r != nil {
		c.Built = true
		c.Method, c.Scheme, c.Host, c.Path = r.Method, r.Scheme, r.Host, r.Path
		c.Invocations = append([]pipeline.Invocation(nil), r.Invocations...)
		if r.Peer != nil {
			c.Peer = r.Peer.SPIFFEID
		}
	}
	if out.Denied != nil {
		c.Denied = out.Denied.Code
	}
	o.mu.Lock()
	o.list = append(o.list, c)
	o.mu.Unlock()
}

func (o *outcomes) all() []outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]outcome(nil), o.list...)
}

// byHost waits for n outcomes and returns the one of host: exchanges on different
// connections end in any order.
func (o *outcomes) byHost(t testing.TB, n int, host string) outcome {
	t.Helper()
	o.wait(t, n)
	for _, c := range o.all() {
		if c.Host == host {
			return c
		}
	}
	t.Fatalf("no outcome for %s in %+v", host, o.all())
	return outcome{}
}

// wait waits for n outcomes and returns the last.
func (o *outcomes) wait(t testing.TB, n int) outcome {
	t.Helper()
	waitfor.TrueWithin(t, 10*time.Second, "the exchange's outcome", func() bool { return len(o.all()) >= n })
	all := o.all()
	return all[n-1]
}

// plainClient is a client that never uses a proxy from the environment.
func plainClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 20 * time.Second}
}

func proxyClient(t testing.TB, proxyURL string) *http.Client {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(u)},
		Timeout:   20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// serve starts h on loopback with the listeners' server settings.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config = proxy.NewServer(h)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readEvent reads one SSE event with its terminator.
func readEvent(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String()
		}
		if line == "\n" || line == "\r\n" {
			return b.String()
		}
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
