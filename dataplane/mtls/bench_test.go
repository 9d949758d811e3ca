package mtls_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// BenchmarkHandshake: a new outbound connection to a strict listener — TCP dial, TLS 1.3
// handshake with both SVIDs verified and authorized, one byte back — without a session
// cache (upstream: a full handshake per connection) and resuming.
func BenchmarkHandshake(b *testing.B) {
	for _, bc := range []struct {
		name   string
		resume bool
	}{{"full", false}, {"resumed", true}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, nil)
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			l := mtls.Listen(inner, sidecarconfig.MTLSStrict, f.serverCfg, mtls.ListenOptions{})
			b.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte{1}) // also flushes the session ticket
					_ = c.Close()
				}
			}()
			cfg := f.clientCfg
			if !bc.resume {
				cfg = cfg.Clone()
				cfg.ClientSessionCache = nil
			}
			dial := mtls.Dialer(cfg, 5*time.Second, nil)
			roundTrip := func() bool {
				c, err := dial(context.Background(), "tcp", l.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var one [1]byte
				if _, err := io.ReadFull(c, one[:]); err != nil {
					b.Fatal(err)
				}
				return c.(*tls.Conn).ConnectionState().DidResume
			}
			roundTrip() // primes the session cache
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if got := roundTrip(); got != bc.resume {
					b.Fatalf("resumed = %v, want %v", got, bc.resume)
				}
			}
		})
	}
}

// BenchmarkRequest: one GET over a kept-alive connection, mTLS (strict listener,
// Dialer) against plaintext (permissive listener) on the same server.
func BenchmarkRequest(b *testing.B) {
	f := newFixture(b, nil)
	for _, bc := range []struct {
		name   string
		client *http.Client
	}{
		{"mtls", mtlsClient(f.clientCfg, nil, true)},
		{"plaintext", &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			addr := serve(b, sidecarconfig.MTLSPermissive, f.serverCfg, mtls.ListenOptions{})
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			do := func() {
				resp, err := bc.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			do() // the connection
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				do()
			}
		})
	}
}
