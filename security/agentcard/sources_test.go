package agentcard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var weather = Endpoint{Namespace: "team-a", Service: "weather", Port: 80, PortName: "http"}

// TestFetchDoesNotFollowRedirects: a card fetch goes to the agent's Service only; an
// agent that answers with a redirect cannot send the controller elsewhere — not even
// when the fetcher was given a client that would follow redirects.
func TestFetchDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	defer agent.Close()
	for name, client := range map[string]*http.Client{"default client": nil, "a client that follows redirects": {}} {
		t.Run(name, func(t *testing.T) {
			f := &HTTPFetcher{Client: client, URL: func(Endpoint) string { return agent.URL + WellKnownPath }}
			_, err := f.FetchCard(context.Background(), weather)
			if err == nil || !strings.Contains(err.Error(), "302") {
				t.Errorf("fetch through a redirect: %v, want the 302 as an error", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the redirect was followed (%d requests elsewhere)", n)
			}
		})
	}
}

// TestFetchBounds: an agent's card server is untrusted. Too much, too slow, not JSON or a
// failure is an error that says which and names the URL; nothing waits past the
// fetcher's timeout and nothing over MaxCardBytes is read.
func TestFetchBounds(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		handler http.HandlerFunc
		raw     func(net.Conn) // instead of an HTTP handler: the bytes on the wire
		want    []string       // "" = fetched
	}{
		{name: "a card", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"name":"weather"}`) }},
		{name: "a card of exactly the bound", handler: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"name":"`+strings.Repeat("w", MaxCardBytes-11)+`"}`)
		}},
		{name: "over the bound, chunked", handler: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"name":"`)
			for range 4 {
				fmt.Fprint(w, strings.Repeat("w", 512<<10))
			}
		}, want: []string{"over the bound of 1048576 bytes"}},
		{name: "over the bound, declared", raw: func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 5<<30)
		}, want: []string{"5368709120 bytes, over the bound"}},
		{name: "not JSON", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>hello</html>")
		}, want: []string{"not JSON", `"text/html"`}},
		{name: "not one JSON value", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"a":1}{"b":2}`) }, want: []string{"not JSON"}},
		{name: "an error status with a long reason", raw: func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 503 %s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("R", 4000))
		}, want: []string{"HTTP 503 Service Unavailable"}},
		{name: "no answer at all", raw: func(c net.Conn) { time.Sleep(10 * timeout) }, want: []string{"no complete answer within 300ms"}},
		{name: "headers a byte at a time", raw: func(c net.Conn) {
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(timeout / 4)
			}
		}, want: []string{"no complete answer within 300ms"}},
		{name: "a body a byte at a time", raw: func(c net.Conn) {
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			for range 1000 {
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(timeout / 4)
			}
		}, want: []string{"no complete answer within 300ms"}},
		{name: "headers over the bound", raw: func(c net.Conn) {
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\n")
			for i := range 2000 {
				if _, err := fmt.Fprintf(c, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 100)); err != nil {
					return
				}
			}
			fmt.Fprint(c, "Content-Length: 2\r\n\r\n{}")
		}, want: []string{"headers exceeded 65536 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, tt.handler, tt.raw)
			f := &HTTPFetcher{Timeout: timeout, URL: func(Endpoint) string { return url }}
			data, err := f.FetchCard(context.Background(), weather)
			if len(tt.want) == 0 {
				if err != nil || len(data) == 0 {
					t.Fatalf("FetchCard: %d bytes, %v", len(data), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("FetchCard accepted it (%d bytes)", len(data))
			}
			for _, w := range append(tt.want, url) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(err.Error()) > 512 {
				t.Errorf("error is %d bytes: %.200s", len(err.Error()), err)
			}
		})
	}
}

// serve starts a loopback server: an HTTP handler, or raw bytes per connection.
func serve(t *testing.T, h http.HandlerFunc, raw func(net.Conn)) string {
	t.Helper()
	if h != nil {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL + WellKnownPath
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf) // the request
				raw(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + WellKnownPath
}
