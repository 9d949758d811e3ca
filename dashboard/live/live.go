package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options bound the streams. A zero field takes its default.
type Options struct {
	// MaxStreams is the most streams open at once; beyond it a tab is told to come back
	// later (503), and its client backs off. Default 256.
	MaxStreams int
	// Coalesce is how long changes gather before streams re-render: a burst of informer
	// events costs one render per stream. Default 100ms.
	Coalesce time.Duration
	// Heartbeat is how often an idle stream sends a comment, so proxies keep it open and
	// a dead client is found. Default 15s.
	Heartbeat time.Duration
	// Lifetime ends a stream after this long; the client reconnects at once. Default 10m.
	Lifetime time.Duration
	// WriteTimeout bounds each write to a slow client. Default 10s.
	WriteTimeout time.Duration
	// Retry is the reconnect delay the stream asks of EventSource, before the client's
	// own backoff. Default 1s.
	Retry time.Duration
}

func (o Options) withDefaults() Options {
	pick := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 256
	}
	pick(&o.Coalesce, 100*time.Millisecond)
	pick(&o.Heartbeat, 15*time.Second)
	pick(&o.Lifetime, 10*time.Minute)
	pick(&o.WriteTimeout, 10*time.Second)
	pick(&o.Retry, time.Second)
	return o
}

// Render renders the fragment a stream keeps current.
type Render func(ctx context.Context) ([]byte, error)

// Hub fans the change signal out to every open stream.
type Hub struct {
	opts    Options
	mu      sync.Mutex
	streams map[chan struct{}]struct{}
	changed chan struct{}
}

// NewHub returns a hub; Run must run for streams to hear of changes.
func NewHub(o Options) *Hub {
	return &Hub{opts: o.withDefaults(), streams: map[chan struct{}]struct{}{}, changed: make(chan struct{}, 1)}
}

// Changed says something a page may show has changed. It never blocks: informer event
// handlers call it.
func (h *Hub) Changed() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// Run passes changes on to the streams, coalesced, until ctx is done.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.changed:
		}
		t.Reset(h.opts.Coalesce)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h.mu.Lock()
		for s := range h.streams {
			select {
			case s <- struct{}{}:
			default: // it has one pending already
			}
		}
		h.mu.Unlock()
	}
}

// Streams is the number of open streams.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

func (h *Hub) join() (chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) >= h.opts.MaxStreams {
		return nil, false
	}
	s := make(chan struct{}, 1)
	h.streams[s] = struct{}{}
	return s, true
}

func (h *Hub) leave(s chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, s)
}

// Digest is the version of a fragment a page embeds, so its stream sends nothing until
// the fragment differs.
func Digest(fragment []byte) string {
	sum := sha256.Sum256(fragment)
	return hex.EncodeToString(sum[:12])
}

// Serve streams render's fragment as "view" events: at once if it differs from the
// digest the tab has (query parameter v), then after every change that alters it. An
// error of render is sent as a "problem" event (EventSource keeps "error" for its own
// connection's) and the stream goes on.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, render Render) {
	s, ok := h.join()
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many live streams; try again later", http.StatusServiceUnavailable)
		return
	}
	defer h.leave(s)
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Lifetime)
	defer cancel()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: " + strconv.FormatInt(h.opts.Retry.Milliseconds(), 10) + "\n\n")) {
		return
	}
	last := r.URL.Query().Get("v")
	send := func() bool {
		frag, err := render(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			return write(event("problem", []byte(err.Error())))
		}
		d := Digest(frag)
		if d == last {
			return true
		}
		last = d
		return write(event("view", append([]byte(d+"\n"), frag...)))
	}
	if !send() {
		return
	}
	beat := time.NewTicker(h.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if !write([]byte(": beat\n\n")) {
				return
			}
		case <-s:
			if !send() {
				return
			}
		}
	}
}

// event frames data as one server-sent event, a data: line per line. A carriage
// return would end a line too, so it is dropped.
func event(name string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	for line := range bytes.SplitSeq(bytes.ReplaceAll(data, []byte("\r"), nil), []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}
