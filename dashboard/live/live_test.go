package live

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stream opens a stream and returns its events, name and data, as they come.
func stream(t *testing.T, url string) (<-chan [2]string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan [2]string, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if name != "" {
					out <- [2]string{name, strings.Join(data, "\n")}
				}
				name, data = "", nil
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out, resp
}

func next(t *testing.T, events <-chan [2]string) [2]string {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return [2]string{}
}

func none(t *testing.T, events <-chan [2]string, within time.Duration) {
	t.Helper()
	select {
	case e := <-events:
		t.Fatalf("unexpected event %q", e)
	case <-time.After(within):
	}
}

func TestStreamSendsOnlyWhatChanged(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := NewHub(Options{Coalesce: 10 * time.Millisecond})
	go h.Run(ctx)
	var version atomic.Int64
	var renders atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, func(context.Context) ([]byte, error) {
			renders.Add(1)
			return fmt.Appendf(nil, "<p>v%d</p>\r\n<p>two lines</p>", version.Load()), nil
		})
	}))
	t.Cleanup(srv.Close) // after the streams close: cleanups run last first

	// The tab shows v0 already: nothing is sent until it changes.
	shown := Digest([]byte("<p>v0</p>\r\n<p>two lines</p>"))
	events, resp := stream(t, srv.URL+"/?v="+shown)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	h.Changed() // a change that alters nothing the view shows
	none(t, events, 200*time.Millisecond)

	version.Store(1)
	for range 50 { // a burst is one render
		h.Changed()
	}
	e := next(t, events)
	digest, frag, _ := strings.Cut(e[1], "\n")
	if e[0] != "view" || frag != "<p>v1</p>\n<p>two lines</p>" || digest != Digest([]byte("<p>v1</p>\r\n<p>two lines</p>")) {
		t.Fatalf("event %q", e)
	}
	none(t, events, 200*time.Millisecond)
	if n := renders.Load(); n > 4 {
		t.Errorf("%d renders for two coalesced changes", n)
	}
}

func TestStreamsAreBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := NewHub(Options{MaxStreams: 2, Lifetime: 300 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
	go h.Run(ctx)
	render := func(context.Context) ([]byte, error) { return []byte("x"), nil }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, render) }))
	t.Cleanup(srv.Close) // after the streams close: cleanups run last first

	a, _ := stream(t, srv.URL)
	b, _ := stream(t, srv.URL)
	next(t, a)
	next(t, b)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream: %d", resp.StatusCode)
	}
	// Both end at their lifetime, and their places are free again.
	for _, events := range []<-chan [2]string{a, b} {
		select {
		case _, ok := <-events:
			for ok {
				_, ok = <-events
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a stream outlived its lifetime")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still counted", h.Streams())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRenderErrorIsAnEvent(t *testing.T) {
	h := NewHub(Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, func(context.Context) ([]byte, error) { return nil, fmt.Errorf("the cache is not synced") })
	}))
	t.Cleanup(srv.Close) // after the streams close: cleanups run last first
	events, _ := stream(t, srv.URL)
	if e := next(t, events); e != [2]string{"problem", "the cache is not synced"} {
		t.Fatalf("event %q", e)
	}
}
