package authbridge

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/internal/redact"
)

// accessLogQueue bounds the exchanges waiting to be written; beyond it entries are
// dropped (and counted) rather than slow a request down.
const accessLogQueue = 4096

// accessLog writes one JSON line per exchange, off the request path: the listener
// hands over a small copy, a goroutine formats and writes it. It carries no header
// value, token or query string, and the path is redacted of credential shapes.
type accessLog struct {
	w       io.Writer
	entries chan accessEntry
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
	// clean remembers the redacted form of the hosts and paths seen (they repeat), up
	// to accessLogClean of them; run alone uses it.
	clean map[string]string
}

// accessLogClean bounds the redacted hosts and paths remembered.
const accessLogClean = 1024

type accessEntry struct {
	at                 time.Time
	listener           string
	direction          pipeline.Direction
	method, host, path string
	status             int
	duration, upstream time.Duration
	bytesIn, bytesOut  int64
	peer               string
	subject, clientID  string
	denyPlugin         string
	denyCode           string
	plugins            []pipeline.Invocation
}

func newAccessLog(w io.Writer) *accessLog {
	l := &accessLog{w: w, entries: make(chan accessEntry, accessLogQueue), done: make(chan struct{}), clean: map[string]string{}}
	go l.run()
	return l
}

// record queues an exchange; it never blocks.
func (l *accessLog) record(o *proxy.Outcome) {
	if l == nil {
		return
	}
	e := accessEntry{
		at: time.Now().Add(-o.Duration), listener: o.Listener, status: o.Status,
		duration: o.Duration, upstream: o.Upstream, bytesIn: o.BytesIn, bytesOut: o.BytesOut,
	}
	if r := o.Request; r != nil {
		e.direction, e.method, e.host, e.path = r.Direction, r.Method, r.Host, r.Path
		if r.Peer != nil {
			e.peer = r.Peer.SPIFFEID
		}
		if r.Identity != nil {
			e.subject, e.clientID = r.Identity.Subject, r.Identity.ClientID
		}
		e.plugins = slices.Clone(r.Invocations)
	}
	if o.Denied != nil {
		e.denyPlugin, e.denyCode = o.Denied.Plugin, o.Denied.Code
	}
	select {
	case l.entries <- e:
	default:
		l.dropped.Add(1)
	}
}

type accessLine struct {
	Time       string  `json:"time"`
	Listener   string  `json:"listener"`
	Direction  string  `json:"direction,omitempty"`
	Method     string  `json:"method,omitempty"`
	Host       string  `json:"host,omitempty"`
	Path       string  `json:"path,omitempty"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	UpstreamMS float64 `json:"upstream_ms"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	Peer       string  `json:"peer,omitempty"`
	Subject    string  `json:"subject,omitempty"`
	ClientID   string  `json:"client_id,omitempty"`
	Denied     string  `json:"denied,omitempty"`
	DeniedBy   string  `json:"denied_by,omitempty"`
	Plugins    string  `json:"plugins,omitempty"`
}

func (l *accessLog) run() {
	defer close(l.done)
	enc := json.NewEncoder(l.w)
	var b strings.Builder
	for e := range l.entries {
		b.Reset()
		for i, inv := range e.plugins {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(inv.Plugin)
			b.WriteByte(':')
			b.WriteString(string(inv.Phase))
			b.WriteByte(':')
			b.WriteString(string(inv.Action))
		}
		_ = enc.Encode(accessLine{
			Time: e.at.UTC().Format(time.RFC3339Nano), Listener: e.listener, Direction: string(e.direction),
			Method: e.method, Host: l.redacted(e.host), Path: l.redacted(e.path), Status: e.status,
			DurationMS: float64(e.duration.Microseconds()) / 1000, UpstreamMS: float64(e.upstream.Microseconds()) / 1000,
			BytesIn: e.bytesIn, BytesOut: e.bytesOut, Peer: e.peer, Subject: e.subject, ClientID: e.clientID,
			Denied: e.denyCode, DeniedBy: e.denyPlugin, Plugins: b.String(),
		})
	}
}

// close writes what is queued and stops.
func (l *accessLog) close() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.entries) })
	<-l.done
}

// redacted hides credential shapes in a host or path. Short ones without the
// characters userinfo and key=value credentials need hold none, and skip the scan: it
// is most of what a line costs.
func (l *accessLog) redacted(s string) string {
	if r, ok := l.clean[s]; ok {
		return r
	}
	r := redacted(s)
	if len(l.clean) >= accessLogClean {
		clear(l.clean)
	}
	l.clean[s] = r
	return r
}

func redacted(s string) string {
	if len(s) < 24 && !strings.ContainsAny(s, "@:=%") {
		return s
	}
	return redact.String(s)
}
