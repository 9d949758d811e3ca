package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
)

// The benchmarks compare a GET to an httptest backend directly with the same GET
// through each proxy (one allowing plugin), so the difference is the sidecar's cost.

func benchBackend(b *testing.B) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(s.Close)
	return s
}

func benchGet(b *testing.B, c *http.Client, target string) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(target)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkReverse(b *testing.B) {
	be := benchBackend(b)
	b.Run("direct", func(b *testing.B) { benchGet(b, plainClient(), be.URL+"/x") })
	b.Run("proxied", func(b *testing.B) {
		u, _ := url.Parse(be.URL)
		h, err := proxy.NewReverse(proxy.ReverseOptions{Backend: u, Pipeline: pipe(b, pipeline.Inbound, &reqPlugin{name: "a", f: allow}),
			OnDone: func(*proxy.Outcome) {}})
		if err != nil {
			b.Fatal(err)
		}
		front := serve(b, h)
		benchGet(b, plainClient(), front.URL+"/x")
	})
}

func BenchmarkForward(b *testing.B) {
	be := benchBackend(b)
	b.Run("direct", func(b *testing.B) { benchGet(b, plainClient(), be.URL+"/x") })
	b.Run("proxied", func(b *testing.B) {
		f, err := proxy.NewForward(proxy.ForwardOptions{Pipeline: pipe(b, pipeline.Outbound, &reqPlugin{name: "a", f: allow}),
			OnDone: func(*proxy.Outcome) {}})
		if err != nil {
			b.Fatal(err)
		}
		fwd := serve(b, f)
		benchGet(b, proxyClient(b, fwd.URL), be.URL+"/x")
	})
}
