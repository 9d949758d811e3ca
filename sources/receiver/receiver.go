package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/internal/httpserver"
)

// Type is the webhook format of a sender; the values are those of
// api/gitops/v1alpha1 ReceiverType.
type Type string

const (
	GitHub      Type = "github"
	GitLab      Type = "gitlab"
	Gitea       Type = "gitea"
	GenericHMAC Type = "generic-hmac"
)

// DefaultMaxBody bounds a push event's body. The receiver never parses the body, it only
// authenticates it, and push events stay far below this: GitHub and GitLab list at most
// 20 commits in one, and Gitea's carry a few KiB per commit. A push whose event is
// larger is refused (413) and its revision arrives with the next interval fetch.
const DefaultMaxBody = 512 << 10

// Request headers read per type.
const (
	headerGitHubSignature = "X-Hub-Signature-256"
	headerGitHubEvent     = "X-GitHub-Event"
	headerGitHubDelivery  = "X-GitHub-Delivery"
	headerGitLabToken     = "X-Gitlab-Token"
	headerGitLabEvent     = "X-Gitlab-Event"
	headerGitLabEventUUID = "X-Gitlab-Event-UUID"
	headerIdempotencyKey  = "Idempotency-Key" // GitLab 17.4+: the same on every retry of an event
	headerGiteaSignature  = "X-Gitea-Signature"
	headerGiteaEvent      = "X-Gitea-Event"
	headerGiteaDelivery   = "X-Gitea-Delivery"
	headerSignature       = "X-Signature"
)

// The one answer to every request that is not authenticated, whatever the reason (no
// such source, no usable Secret, a lookup that failed, a wrong signature): a caller
// without the secret must not learn which sources have receivers.
const (
	unauthorizedStatus = http.StatusUnauthorized
	unauthorizedBody   = "missing or invalid signature"
)

// Source is the receiver configuration of one GitSource.
type Source struct {
	Type Type
	// Secret is the HMAC key (github, gitea, generic-hmac) or shared token (gitlab).
	Secret []byte
}

// Lookup finds a GitSource's receiver settings; found is false when the GitSource does
// not exist or has no receiver. It is called for every request that passes the size and
// concurrency checks, before the signature is known to be good, so it must answer from
// memory: a stranger's request must cost the API server nothing.
type Lookup interface {
	Receiver(ctx context.Context, namespace, name string) (src Source, found bool, err error)
}

// Options bound what strangers and replays can make the receiver do. Zero fields take
// DefaultOptions' values.
type Options struct {
	// MaxBody bounds a request body: a larger announced body is refused before it is
	// read, a longer one as soon as it passes the bound. The body is streamed through the
	// HMAC and never held.
	MaxBody int64
	// MaxInFlight bounds the requests being read and verified at once. When all are
	// taken, a new request displaces the one that has been reading its body longest,
	// provided that is at least EvictAfter (0, the default: any age); otherwise it is
	// answered 503 at once, never queued. A Git host sends its small body with the
	// headers and is done reading in microseconds; a stranger stalling a body is not, so
	// a flood of stalled bodies cannot keep a push out, however fast it re-dials.
	MaxInFlight int
	EvictAfter  time.Duration
	// FetchBurst fetches of one source may follow each other at once; after that, one per
	// FetchEvery. A verified push beyond is not lost: it is coalesced into the one fetch
	// that runs when the next is allowed.
	FetchBurst int
	FetchEvery time.Duration
	// Deliveries is how many delivery IDs are remembered, each for DeliveryTTL: a
	// delivery seen before is answered 200 and triggers nothing.
	Deliveries  int
	DeliveryTTL time.Duration
	// Registerer gets the receiver's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log gets refusals and lookup failures, at most LogPerSecond lines a second (the
	// metrics count every one). Nothing secret is logged: no signature, token or body.
	Log          logr.Logger
	LogPerSecond int
}

// DefaultOptions are the receiver's bounds.
func DefaultOptions() Options {
	return Options{
		MaxBody:      DefaultMaxBody,
		MaxInFlight:  64,
		FetchBurst:   10,
		FetchEvery:   time.Second,
		Deliveries:   4096,
		DeliveryTTL:  time.Hour,
		LogPerSecond: 5,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxBody <= 0 {
		o.MaxBody = d.MaxBody
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = d.MaxInFlight
	}
	if o.FetchBurst <= 0 {
		o.FetchBurst = d.FetchBurst
	}
	if o.FetchEvery <= 0 {
		o.FetchEvery = d.FetchEvery
	}
	if o.Deliveries <= 0 {
		o.Deliveries = d.Deliveries
	}
	if o.DeliveryTTL <= 0 {
		o.DeliveryTTL = d.DeliveryTTL
	}
	if o.LogPerSecond <= 0 {
		o.LogPerSecond = d.LogPerSecond
	}
	return o
}

// ServerOptions are the HTTP limits of the receiver's listener, tighter than the
// defaults: a push is one small request, and every second a stranger holds a
// connection is one a Git host may not get. A body of MaxBody arrives in ReadTimeout
// at 52 KiB/s.
func ServerOptions() httpserver.Options {
	return httpserver.Options{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Handler serves POST /hook/{namespace}/{name}.
type Handler struct {
	lookup  Lookup
	trigger func(ctx context.Context, namespace, name string)
	o       Options

	mux     *http.ServeMux
	slots   *slots
	decoy   []byte // HMAC key for requests without a usable secret
	bufs    sync.Pool
	metrics *metrics
	fetches *fetchLimits
	seen    *deliveries
	log     *sampledLog
}

// NewHandler returns the receiver. trigger is called once per fetch a verified push asks
// for; it should return quickly (enqueue the fetch), and its context is not cancelled
// when the request ends.
func NewHandler(lookup Lookup, trigger func(ctx context.Context, namespace, name string), o Options) *Handler {
	o = o.withDefaults()
	h := &Handler{
		lookup:  lookup,
		trigger: trigger,
		o:       o,
		mux:     http.NewServeMux(),
		slots:   newSlots(o.MaxInFlight, o.EvictAfter),
		decoy:   make([]byte, 32),
		metrics: newMetrics(o.Registerer),
		fetches: newFetchLimits(o.FetchBurst, o.FetchEvery),
		seen:    newDeliveries(o.Deliveries, o.DeliveryTTL),
		log:     newSampledLog(o.Log, o.LogPerSecond),
	}
	_, _ = rand.Read(h.decoy)
	h.bufs.New = func() any { b := make([]byte, 8<<10); return &b }
	// The method in the pattern makes the mux answer other methods with 405.
	h.mux.HandleFunc("POST /hook/{namespace}/{name}", h.receive)
	return h
}

// Path is the URL path push webhooks for a GitSource are sent to.
func Path(namespace, name string) string {
	return "/hook/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	namespace, name := r.PathValue("namespace"), r.PathValue("name")
	if r.ContentLength > h.o.MaxBody {
		h.refuse(w, r, resultTooLarge, http.StatusRequestEntityTooLarge, "request body too large", nil)
		return
	}
	rc := http.NewResponseController(w)
	slot, evicted := h.slots.acquire(time.Now(), func() { _ = rc.SetReadDeadline(time.Now()) })
	if evicted {
		h.metrics.count(resultEvicted)
	}
	if slot == nil {
		w.Header().Set("Retry-After", "1")
		h.refuse(w, r, resultBusy, http.StatusServiceUnavailable, "too many requests in flight", nil)
		return
	}
	defer h.slots.release(slot)
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()

	// Whatever the lookup says, the body is read and hashed the same way, so neither the
	// answer nor the time to it tells a stranger whether the source exists.
	src, refusal, lookupErr := h.source(r.Context(), namespace, name)
	key := src.Secret
	if refusal != "" {
		key = h.decoy
	}
	sum, status := h.digest(w, r, key)
	h.slots.read(slot)
	switch {
	case status == http.StatusRequestEntityTooLarge:
		h.refuse(w, r, resultTooLarge, status, "request body too large", nil)
		return
	case status != 0:
		h.refuse(w, r, resultReadFailed, status, "unreadable request body", nil)
		return
	case refusal != "":
		h.refuse(w, r, refusal, unauthorizedStatus, unauthorizedBody, lookupErr)
		return
	case !verify(src, r.Header, sum):
		h.refuse(w, r, resultBadSignature, unauthorizedStatus, unauthorizedBody, nil)
		return
	}

	trigger, status := wanted(src.Type, r.Header)
	if !trigger {
		result := resultIgnored
		if status == http.StatusBadRequest {
			result = resultBadEvent
		}
		h.metrics.count(result)
		w.WriteHeader(status)
		return
	}
	if id := deliveryID(src.Type, r.Header); id != "" && !h.seen.first(namespace, name, id, time.Now()) {
		h.metrics.count(resultDuplicate)
		h.log.info("push webhook replayed; ignored", r, resultDuplicate, "delivery", truncate(id, 64))
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx := context.WithoutCancel(r.Context())
	fire := func() { h.trigger(ctx, namespace, name) }
	switch h.fetches.admit(namespace+"/"+name, fire) {
	case fetchNow:
		h.metrics.count(resultAccepted)
		fire()
	case fetchScheduled, fetchCoalesced:
		h.metrics.count(resultCoalesced)
	}
	w.WriteHeader(http.StatusAccepted)
}

// source looks the receiver up; refusal is the result to count when there is no usable
// secret, and err the lookup's failure, for the log.
func (h *Handler) source(ctx context.Context, namespace, name string) (src Source, refusal string, err error) {
	if h.lookup == nil || h.trigger == nil {
		return Source{}, resultNotReady, nil
	}
	src, found, err := h.lookup.Receiver(ctx, namespace, name)
	switch {
	case err != nil:
		return Source{}, resultLookupFailed, err
	case !found:
		return Source{}, resultUnknownSource, nil
	case len(src.Secret) == 0 || !src.Type.valid():
		// An empty key would accept anyone's signature.
		return Source{}, resultNotConfigured, nil
	}
	return src, "", nil
}

// digest streams the body, bounded, through HMAC-SHA256 with key and returns the MAC,
// or the status to refuse with when the body is too large or cannot be read.
func (h *Handler) digest(w http.ResponseWriter, r *http.Request, key []byte) ([]byte, int) {
	mac := hmac.New(sha256.New, key)
	buf := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(buf)
	// The wrapper hides any ReaderFrom, so the pooled buffer is the only one.
	_, err := io.CopyBuffer(struct{ hash.Hash }{mac}, http.MaxBytesReader(w, r.Body, h.o.MaxBody), *buf)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return mac.Sum(nil), 0
}

// refuse answers a request that triggers nothing, counts and logs it, and closes the
// connection: a stranger pays a new connection for every try.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, result string, status int, msg string, err error) {
	h.metrics.count(result)
	if err != nil {
		h.log.error(err, "push webhook receiver lookup failed", r, result)
	} else {
		h.log.info("push webhook refused", r, result, "status", status)
	}
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

func (t Type) valid() bool {
	switch t {
	case GitHub, GitLab, Gitea, GenericHMAC:
		return true
	}
	return false
}

// verify checks the request's signature against the body's MAC, or its token against
// the source's secret.
func verify(src Source, h http.Header, sum []byte) bool {
	switch src.Type {
	case GitHub:
		return validHMAC(sum, h.Get(headerGitHubSignature), "sha256=")
	case Gitea:
		return validHMAC(sum, h.Get(headerGiteaSignature), "")
	case GenericHMAC:
		return validHMAC(sum, h.Get(headerSignature), "sha256=")
	case GitLab:
		token := h.Get(headerGitLabToken)
		if token == "" {
			return false
		}
		// Comparing digests keeps the secret's length out of the timing too.
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256(src.Secret)
		return subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	return false
}

// validHMAC checks header == prefix + hex(sum).
func validHMAC(sum []byte, header, prefix string) bool {
	sig, ok := strings.CutPrefix(header, prefix)
	if !ok || sig == "" {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sum)
}

// wanted says whether a verified request's event triggers a fetch, and otherwise the
// status to answer with.
func wanted(t Type, h http.Header) (bool, int) {
	var event string
	var triggers []string
	switch t {
	case GitHub:
		event, triggers = h.Get(headerGitHubEvent), []string{"push", "create"}
	case GitLab:
		event, triggers = h.Get(headerGitLabEvent), []string{"Push Hook", "Tag Push Hook"}
	case Gitea:
		event, triggers = h.Get(headerGiteaEvent), []string{"push", "create"}
	default:
		return true, 0
	}
	if event == "" {
		return false, http.StatusBadRequest
	}
	for _, e := range triggers {
		if event == e {
			return true, 0
		}
	}
	// ping and other events are fine to receive; they just change nothing.
	return false, http.StatusOK
}

// deliveryID is the host's ID of one event, the same on its retries and redeliveries;
// "" when the host sends none. It is not covered by the signature, so a replay with a
// new ID passes this check; the per-source fetch limit bounds those.
func deliveryID(t Type, h http.Header) string {
	switch t {
	case GitHub:
		return h.Get(headerGitHubDelivery)
	case Gitea:
		return h.Get(headerGiteaDelivery)
	case GitLab:
		if id := h.Get(headerIdempotencyKey); id != "" {
			return id
		}
		return h.Get(headerGitLabEventUUID)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
