package httpserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/x509test"
)

func TestOr(t *testing.T) {
	def := httpserver.DefaultOptions()
	tests := []struct {
		name string
		in   httpserver.Options
		want httpserver.Options
	}{
		{"zero takes the defaults", httpserver.Options{}, def},
		{"set fields stay", httpserver.Options{ReadTimeout: time.Second, MaxHeaderBytes: 1024},
			func() httpserver.Options { o := def; o.ReadTimeout, o.MaxHeaderBytes = time.Second, 1024; return o }()},
		{"negative takes the default", httpserver.Options{IdleTimeout: -1, MaxHeaderBytes: -1}, def},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.Or(def); got != tc.want {
				t.Errorf("Or = %+v, want %+v", got, tc.want)
			}
		})
	}
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": def.ReadHeaderTimeout, "ReadTimeout": def.ReadTimeout,
		"WriteTimeout": def.WriteTimeout, "IdleTimeout": def.IdleTimeout, "ShutdownTimeout": def.ShutdownTimeout} {
		if d <= 0 {
			t.Errorf("DefaultOptions().%s = %s: every default must bound", name, d)
		}
	}
}

// short are the test's timeouts: small, so the test waits little for each close.
var short = httpserver.Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond,
	WriteTimeout: time.Second, IdleTimeout: 400 * time.Millisecond, ShutdownTimeout: time.Second}

// margin is what a close may take beyond its timeout on a loaded machine.
const margin = 5 * time.Second

func start(t *testing.T, s *httpserver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop within 10 s of its context")
		}
	})
	return ln.Addr().String()
}

func TestServerClosesHeldConnections(t *testing.T) {
	cert := x509test.New(t, x509test.Options{CommonName: "localhost"})
	serverTLS := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key}}, MinVersion: tls.VersionTLS12}
	// Only the timeouts are under test here, not who the server is.
	clientTLS := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &httpserver.Server{Name: "test", Options: short, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, "ok")
			})}
			var dial httpservertest.Dial
			if tc.tls {
				s.TLS = serverTLS
			}
			addr := start(t, s)
			dial = httpservertest.TCP(addr)
			if tc.tls {
				dial = httpservertest.TLS(addr, clientTLS)
			}
			t.Run("trickled headers", func(t *testing.T) { httpservertest.ClosesTrickledHeaders(t, dial, short.ReadHeaderTimeout+margin) })
			t.Run("trickled body", func(t *testing.T) { httpservertest.ClosesTrickledBody(t, dial, "/", short.ReadTimeout+margin) })
			t.Run("idle keep-alive", func(t *testing.T) { httpservertest.ClosesIdle(t, dial, "/", short.IdleTimeout+margin) })
		})
	}
}

func TestServerListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &httpserver.Server{Name: "busy", Addr: ln.Addr().String(), Handler: http.NotFoundHandler()}
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "busy server") {
		t.Errorf("Start on a taken address = %v, want an error naming the server", err)
	}
}

func TestProbes(t *testing.T) {
	p := &httpserver.Probes{}
	p.AddHealthz("ping", func(*http.Request) error { return nil })
	p.AddReadyz("ping", func(*http.Request) error { return nil })
	p.AddReadyz("cache", func(*http.Request) error { return errors.New("secret detail: not synced") })
	addr := start(t, &httpserver.Server{Name: "probes", Handler: p, Options: short})
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{http.MethodGet, "/healthz", 200, "ok"},
		{http.MethodGet, "/healthz/", 200, "ok"},
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodGet, "/readyz", 500, "failed: cache\n"},
		{http.MethodGet, "/other", 404, "404 page not found\n"},
		{http.MethodPost, "/healthz", 405, "method not allowed\n"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || string(body) != tc.body {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tc.code, tc.body)
			}
		})
	}
}
