// Package httpservertest checks that a running server drops the connections a stranger
// can hold open: a request whose headers or body trickle in, and an idle keep-alive.
// It dials the server for real (TCP, or TLS over TCP) and only waits a bounded time.
package httpservertest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Dial opens a connection to the server under test.
type Dial func() (net.Conn, error)

// TCP dials addr.
func TCP(addr string) Dial {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
}

// TLS dials addr and completes the handshake with cfg.
func TLS(addr string, cfg *tls.Config) Dial {
	return func() (net.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// trickleEvery is how often a byte is sent: well inside any timeout under test, so only
// the server's whole-request bound can end the request.
const trickleEvery = 50 * time.Millisecond

// ClosesTrickledHeaders asserts that the server closes, within the bound, a connection
// whose request headers arrive one byte at a time and never end.
func ClosesTrickledHeaders(t testing.TB, dial Dial, within time.Duration) {
	t.Helper()
	conn := open(t, dial)
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: trickle\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := trickle(conn, "X-Trickle: "+strings.Repeat("a", 1<<20))
	defer stop()
	waitClosed(t, conn, within, "trickled headers")
}

// ClosesTrickledBody asserts that the server closes, within the bound, a connection that
// sent complete headers of a POST to path announcing a body, then sends the body one byte
// at a time. headers are extra header lines ("Name: value").
func ClosesTrickledBody(t testing.TB, dial Dial, path string, within time.Duration, headers ...string) {
	t.Helper()
	conn := open(t, dial)
	defer conn.Close()
	const size = 100 << 10
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: trickle\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, size)
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := trickle(conn, strings.Repeat("{", size))
	defer stop()
	waitClosed(t, conn, within, "a trickled body")
}

// ClosesIdle asserts that after one complete GET of path, answered, the server closes
// the kept-alive connection within the bound.
func ClosesIdle(t testing.TB, dial Dial, path string, within time.Duration) {
	t.Helper()
	conn := open(t, dial)
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: idle\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	// The answer first: then only the idle timeout can end the connection.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 ") {
		t.Fatalf("no answer to GET %s: %q, %v", path, buf[:n], err)
	}
	if strings.Contains(strings.ToLower(string(buf[:n])), "connection: close") {
		t.Fatalf("GET %s was answered with Connection: close; the test needs a kept-alive connection", path)
	}
	waitClosed(t, conn, within, "an idle keep-alive")
}

func open(t testing.TB, dial Dial) net.Conn {
	t.Helper()
	conn, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// trickle writes s one byte every trickleEvery until stopped or a write fails.
func trickle(conn net.Conn, s string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(trickleEvery)
		defer tick.Stop()
		for i := 0; i < len(s); i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// waitClosed reads (and drops any answer) until the server closes the connection, and
// fails when it is still open after within.
func waitClosed(t testing.TB, conn net.Conn, within time.Duration, what string) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept %s open for %s", what, within)
	}
	t.Logf("the server closed %s after %s", what, time.Since(start).Round(10*time.Millisecond))
}

// FreeAddr is a loopback address nothing listens on at the moment, for a server a test
// starts by address (the servers take an address, not a listener).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// FreePort is FreeAddr's port, for a server that takes a port alone.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// WaitOK waits until a GET of url answers 200, trying every interval for at most
// tries times; the error says what it last answered.
func WaitOK(ctx context.Context, url string, tries int, interval time.Duration) error {
	var last error
	for range tries {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return fmt.Errorf("%s does not answer: %w", url, last)
}
