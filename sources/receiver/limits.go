package receiver

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Results of a request, the values of the metric's result label.
const (
	resultAccepted      = "accepted"       // a fetch was triggered
	resultCoalesced     = "coalesced"      // verified; folded into a fetch that is due
	resultDuplicate     = "duplicate"      // verified; a delivery seen before
	resultIgnored       = "ignored_event"  // verified; an event that changes nothing
	resultBadEvent      = "bad_event"      // verified; no event header
	resultTooLarge      = "too_large"      // body over MaxBody
	resultBusy          = "busy"           // MaxInFlight reached
	resultReadFailed    = "read_failed"    // the body could not be read (cut off, too slow, displaced)
	resultEvicted       = "evicted"        // a slow request displaced by a new one (also counted read_failed)
	resultUnknownSource = "unknown_source" // no such GitSource, or it has no receiver
	resultLookupFailed  = "lookup_failed"  // the GitSource or its Secret could not be read
	resultNotConfigured = "not_configured" // empty secret or unknown type
	resultNotReady      = "not_ready"      // the receiver has no lookup or trigger yet
	resultBadSignature  = "bad_signature"
)

type metrics struct {
	requests *prometheus.CounterVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		// Only the result is a label: the path is the caller's to choose, and a label per
		// path would let a stranger grow the metrics without bound.
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_receiver_requests_total",
			Help: "Push webhook requests by result (accepted, coalesced, duplicate, ignored_event, bad_event, too_large, busy, evicted, read_failed, unknown_source, lookup_failed, not_configured, not_ready, bad_signature).",
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trustsync_receiver_in_flight_requests",
			Help: "Push webhook requests being read and verified.",
		}),
	}
	for _, r := range []string{resultAccepted, resultCoalesced, resultDuplicate, resultIgnored, resultBadEvent, resultTooLarge, resultBusy, resultEvicted,
		resultReadFailed, resultUnknownSource, resultLookupFailed, resultNotConfigured, resultNotReady, resultBadSignature} {
		m.requests.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.inFlight)
	}
	return m
}

func (m *metrics) count(result string) { m.requests.WithLabelValues(result).Inc() }

// slots bounds the requests in flight. A request holds its slot until it returns; while
// it reads its body it may be displaced by a newcomer, oldest first, once it is at least
// evictAfter old.
type slots struct {
	mu         sync.Mutex
	max        int
	evictAfter time.Duration
	held       map[*slot]struct{} // counted against max
	draining   int                // displaced, not yet returned; at most max
}

type slot struct {
	start   time.Time
	reading bool
	evict   func()
}

func newSlots(max int, evictAfter time.Duration) *slots {
	return &slots{max: max, evictAfter: evictAfter, held: make(map[*slot]struct{}, max)}
}

// acquire returns a slot, or nil when every slot is held by a request younger than
// evictAfter or done reading, or too many displaced ones are still draining. evicted says whether an old request was displaced for it;
// evict is how to cut this request's body read short should it be displaced in turn.
func (s *slots) acquire(now time.Time, evict func()) (sl *slot, evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) >= s.max {
		var oldest *slot
		for h := range s.held {
			if h.reading && now.Sub(h.start) >= s.evictAfter && (oldest == nil || h.start.Before(oldest.start)) {
				oldest = h
			}
		}
		if oldest == nil || s.draining >= s.max {
			return nil, false
		}
		// Its read fails at once and it returns; until then it counts as draining.
		delete(s.held, oldest)
		oldest.reading = false
		s.draining++
		oldest.evict()
		evicted = true
	}
	sl = &slot{start: now, reading: true, evict: evict}
	s.held[sl] = struct{}{}
	return sl, evicted
}

// read marks the slot's body as read: it may no longer be displaced.
func (s *slots) read(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.reading = false
}

func (s *slots) release(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.held[sl]; ok {
		delete(s.held, sl)
	} else {
		s.draining--
	}
}

// fetchLimits bounds the fetches each source's pushes trigger. The map holds only
// sources whose signature verified, so it grows with the GitSources, not with strangers.
type fetchLimits struct {
	mu      sync.Mutex
	burst   int
	every   time.Duration
	sources map[string]*fetchLimit
}

type fetchLimit struct {
	limiter *rate.Limiter
	pending bool // a fetch is scheduled
}

type fetchDecision int

const (
	fetchNow       fetchDecision = iota
	fetchScheduled               // fire runs when the next fetch is allowed
	fetchCoalesced               // a scheduled fetch covers this push
)

func newFetchLimits(burst int, every time.Duration) *fetchLimits {
	return &fetchLimits{burst: burst, every: every, sources: map[string]*fetchLimit{}}
}

// admit decides whether a verified push of source fetches now; otherwise it makes sure
// exactly one fetch is scheduled for when the limit allows, which sees this push too.
func (f *fetchLimits) admit(source string, fire func()) fetchDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.sources[source]
	if l == nil {
		l = &fetchLimit{limiter: rate.NewLimiter(rate.Every(f.every), f.burst)}
		f.sources[source] = l
	}
	if l.pending {
		return fetchCoalesced
	}
	r := l.limiter.Reserve()
	delay := r.Delay()
	if delay == 0 {
		return fetchNow
	}
	l.pending = true
	time.AfterFunc(delay, func() {
		f.mu.Lock()
		l.pending = false
		f.mu.Unlock()
		fire()
	})
	return fetchScheduled
}

// deliveries remembers recent delivery IDs, bounded in number and age. Keys are hashes,
// so an entry's size does not depend on what the sender put in the header.
type deliveries struct {
	mu    sync.Mutex
	ttl   time.Duration
	seen  map[[32]byte]delivery
	order [][32]byte // a ring: the oldest entry is overwritten first
	next  int
}

type delivery struct {
	at   time.Time
	slot int
}

func newDeliveries(n int, ttl time.Duration) *deliveries {
	return &deliveries{ttl: ttl, seen: make(map[[32]byte]delivery, n), order: make([][32]byte, 0, n)}
}

// first records the delivery and reports whether it was not seen within the TTL.
func (d *deliveries) first(namespace, name, id string, now time.Time) bool {
	key := sha256.Sum256([]byte(namespace + "/" + name + "\x00" + id))
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.seen[key]; ok && now.Sub(old.at) < d.ttl {
		return false
	}
	slot := d.next
	if len(d.order) < cap(d.order) {
		d.order = append(d.order, key)
	} else {
		evicted := d.order[slot]
		if e, ok := d.seen[evicted]; ok && e.slot == slot {
			delete(d.seen, evicted)
		}
		d.order[slot] = key
	}
	d.next = (slot + 1) % cap(d.order)
	d.seen[key] = delivery{at: now, slot: slot}
	return true
}

// sampledLog logs at most perSecond lines a second (with a burst), and says how many it
// left out: refusals are a stranger's to multiply, the log must not be.
type sampledLog struct {
	log        logr.Logger
	limit      *rate.Limiter
	suppressed atomic.Int64
}

func newSampledLog(log logr.Logger, perSecond int) *sampledLog {
	return &sampledLog{log: log, limit: rate.NewLimiter(rate.Limit(perSecond), 4*perSecond)}
}

// requestValues are what a line says about a request: never a header value that could
// carry a secret (signatures, tokens), never the body.
func requestValues(r *http.Request, result string) []any {
	return []any{"result", result, "namespace", truncate(r.PathValue("namespace"), 63), "name", truncate(r.PathValue("name"), 253), "remote", r.RemoteAddr}
}

func (s *sampledLog) info(msg string, r *http.Request, result string, kv ...any) {
	if s.allow() {
		s.log.Info(msg, append(append(requestValues(r, result), kv...), "suppressed", s.suppressed.Swap(0))...)
	}
}

func (s *sampledLog) error(err error, msg string, r *http.Request, result string) {
	if s.allow() {
		s.log.Error(err, msg, append(requestValues(r, result), "suppressed", s.suppressed.Swap(0))...)
	}
}

func (s *sampledLog) allow() bool {
	if s.log.GetSink() == nil {
		return false
	}
	if s.limit.Allow() {
		return true
	}
	s.suppressed.Add(1)
	return false
}
