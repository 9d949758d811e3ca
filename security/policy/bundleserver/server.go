package bundleserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/sync/singleflight"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
)

// Options configure a Server.
type Options struct {
	// TrustDomain of the identities served; others are refused.
	TrustDomain spiffeid.TrustDomain
	// MaxConcurrentBuilds bounds bundle builds; 10 when 0.
	MaxConcurrentBuilds int
	// MaxBundleSize refuses larger bundles with 413; policy.MaxBundleSize when 0.
	MaxBundleSize int
	// Registerer gets the server's metrics; none when nil.
	Registerer prometheus.Registerer
	// Log; discarded when zero.
	Log logr.Logger
}

// Server serves per-identity bundles over HTTP: GET /bundles?spiffe=<td>/ns/<ns>/sa/<sa>.
// It must sit behind TLS that requires a client X.509-SVID (see TLSConfig): a caller
// gets only its own identity's bundle.
type Server struct {
	index   *Index
	opts    Options
	flight  singleflight.Group
	builds  chan struct{}
	mu      sync.Mutex
	cache   map[workload]*cached
	metrics *serverMetrics
	built   atomic.Int64
}

type workload = identity.Workload

// cached is the bundle an identity is served for the tier generations in stamp.
type cached struct {
	stamp   stamp
	archive []byte
	etag    string
	// kind is what was served: built from the current policies, a fallback to the last
	// good namespace or client tier, or fail-closed (deny everything).
	kind string
	// good are the tiers of the last bundle that built, which a broken change falls back to.
	good *policy.Tiers
}

// What a bundle was built from, in the X-Trustsync-Bundle header.
const (
	bundleCurrent    = "current"
	bundleFallback   = "fallback"
	bundleFailClosed = "fail-closed"
)

// New makes a server over ix.
func New(ix *Index, o Options) *Server {
	if o.MaxConcurrentBuilds <= 0 {
		o.MaxConcurrentBuilds = 10
	}
	if o.MaxBundleSize <= 0 {
		o.MaxBundleSize = policy.MaxBundleSize
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	return &Server{index: ix, opts: o, builds: make(chan struct{}, o.MaxConcurrentBuilds), cache: map[workload]*cached{}, metrics: newMetrics(o.Registerer)}
}

// ServeHTTP routes /bundles, /healthz and /readyz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/bundles":
		s.serveBundle(w, r)
	case "/healthz":
		_, _ = w.Write([]byte("ok"))
	case "/readyz":
		if !s.index.Synced() {
			http.Error(w, "policies not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveBundle(w http.ResponseWriter, r *http.Request) {
	code := s.bundle(w, r)
	s.metrics.requests.WithLabelValues(fmt.Sprint(code)).Inc()
}

// bundle answers one bundle request and returns the status code it sent.
func (s *Server) bundle(w http.ResponseWriter, r *http.Request) int {
	fail := func(code int, msg string) int {
		http.Error(w, msg, code)
		return code
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return fail(http.StatusMethodNotAllowed, "only GET")
	}
	raw := r.URL.Query().Get("spiffe")
	if raw == "" {
		return fail(http.StatusBadRequest, "missing query parameter spiffe=<trust-domain>/ns/<namespace>/sa/<service-account>")
	}
	want, err := identity.Parse(raw)
	if err != nil {
		return fail(http.StatusBadRequest, err.Error())
	}
	caller, err := callerID(r)
	if err != nil {
		return fail(http.StatusForbidden, err.Error())
	}
	if want.TrustDomain != s.opts.TrustDomain.Name() {
		return fail(http.StatusForbidden, fmt.Sprintf("trust domain %q is not served here (%s)", want.TrustDomain, s.opts.TrustDomain.Name()))
	}
	if caller.String() != want.String() {
		s.opts.Log.Info("refused a bundle to another identity", "caller", caller.String(), "requested", want.String())
		return fail(http.StatusForbidden, "a workload may fetch only its own bundle")
	}
	if !s.index.Synced() {
		return fail(http.StatusServiceUnavailable, "policies not synced yet")
	}
	c, err := s.current(r.Context(), want)
	if err != nil {
		var tooBig *tooLargeError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, err.Error())
		}
		return fail(http.StatusInternalServerError, err.Error())
	}
	h := w.Header()
	h.Set("ETag", `"`+c.etag+`"`)
	h.Set("X-Trustsync-Bundle", c.kind)
	h.Set("Cache-Control", "max-age=0, must-revalidate")
	if matches(r.Header.Get("If-None-Match"), c.etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Length", fmt.Sprint(len(c.archive)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(c.archive)
	}
	return http.StatusOK
}

// callerID is the SPIFFE ID of the client certificate the TLS layer verified.
func callerID(r *http.Request) (workload, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return workload{}, errors.New("no client X.509-SVID: bundles are served over mutual TLS only")
	}
	id, err := x509svid.IDFromCert(r.TLS.PeerCertificates[0])
	if err != nil {
		return workload{}, fmt.Errorf("client certificate: %w", err)
	}
	return identity.Parse(id.String())
}

func matches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == `"`+etag+`"` || t == "*" {
			return true
		}
	}
	return false
}

type tooLargeError struct{ size, limit int }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the bundle is %d bytes, over the limit of %d", e.size, e.limit)
}

// Bundle is the identity's bundle for the index as it is now: its ETag and gzip tar,
// built when the cached one is stale. It is what GET /bundles serves, without the
// authentication (the caller must have checked who asks).
func (s *Server) Bundle(ctx context.Context, w identity.Workload) (etag string, archive []byte, err error) {
	c, err := s.current(ctx, w)
	if err != nil {
		return "", nil, err
	}
	return c.etag, c.archive, nil
}

// current gives the identity's bundle for the index as it is now, building it when the
// cached one is stale.
func (s *Server) current(ctx context.Context, w workload) (*cached, error) {
	// A request that joins a build begun before the index changed gets an older bundle:
	// it builds once more for the generations it saw.
	for range 2 {
		st := s.index.stampOf(w)
		s.mu.Lock()
		c := s.cache[w]
		s.mu.Unlock()
		if c != nil && c.stamp == st {
			s.metrics.cache.WithLabelValues("hit").Inc()
			return c, nil
		}
		s.metrics.cache.WithLabelValues("miss").Inc()
		v, err, _ := s.flight.Do(w.String(), func() (any, error) {
			// The build is shared: one caller going away must not cancel it for the others.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
			defer cancel()
			return s.build(bctx, w)
		})
		if err != nil {
			return nil, err
		}
		if c := v.(*cached); c.stamp == s.index.stampOf(w) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("the policies of %s keep changing; try again", w)
}

// buildTimeout bounds one build, waiting for a build slot included.
const buildTimeout = time.Minute

// build makes the identity's bundle from the index as it is now. A change that does not
// build never replaces what worked with something unsafe: the namespace and the client
// tier fall back, one at a time and then together, to the versions of the last good
// bundle — but the platform's global tier always applies as it is now, so a tenant
// cannot hold back a global change by breaking its own namespace. When nothing builds,
// the identity is served a bundle that denies everything.
func (s *Server) build(ctx context.Context, w workload) (*cached, error) {
	select {
	case s.builds <- struct{}{}:
		defer func() { <-s.builds }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := time.Now()
	t, st := s.index.tiers(w)
	s.mu.Lock()
	prev := s.cache[w]
	s.mu.Unlock()

	c := &cached{stamp: st, kind: bundleCurrent}
	candidates := []policy.Tiers{t}
	if prev != nil && prev.good != nil {
		g := prev.good
		candidates = append(candidates,
			policy.Tiers{Global: t.Global, Namespace: g.Namespace, Client: t.Client},
			policy.Tiers{Global: t.Global, Namespace: t.Namespace, Client: g.Client},
			policy.Tiers{Global: t.Global, Namespace: g.Namespace, Client: g.Client})
	}
	var firstErr error
	for i, cand := range candidates {
		b, archive, err := s.archive(cand)
		var tooBig *tooLargeError
		if i == 0 && errors.As(err, &tooBig) {
			return nil, err // reported as 413, as the reference does, not hidden by a fallback
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if i > 0 {
			c.kind = bundleFallback
		}
		good := cand
		c.good, c.archive, c.etag = &good, archive, b.ETag()
		break
	}
	if c.archive == nil {
		b, archive, err := s.archive(policy.Tiers{})
		if err != nil {
			return nil, err
		}
		c.kind, c.archive, c.etag = bundleFailClosed, archive, b.ETag()
		if prev != nil {
			c.good = prev.good
		}
	}
	s.metrics.buildSeconds.Observe(time.Since(start).Seconds())
	if firstErr != nil {
		s.metrics.builds.WithLabelValues("failed").Inc()
		s.opts.Log.Error(firstErr, "the current policies do not build", "identity", w.String(), "served", c.kind)
	} else {
		s.metrics.builds.WithLabelValues("built").Inc()
	}
	s.built.Add(1)
	s.mu.Lock()
	s.cache[w] = c
	s.mu.Unlock()
	return c, nil
}

// archive builds and archives t, refusing bundles over the size limit.
func (s *Server) archive(t policy.Tiers) (*policy.Bundle, []byte, error) {
	b, err := policy.Build(t)
	if err != nil {
		return nil, nil, err
	}
	archive, err := b.Archive()
	if err != nil {
		return nil, nil, err
	}
	if len(archive) > s.opts.MaxBundleSize {
		return nil, nil, &tooLargeError{size: len(archive), limit: s.opts.MaxBundleSize}
	}
	return b, archive, nil
}

// Builds is the number of bundles built so far, for tests and benchmarks.
func (s *Server) Builds() int64 { return s.built.Load() }

func sortByName(ps []*agentv1.AuthorizationPolicy) {
	slices.SortFunc(ps, func(a, b *agentv1.AuthorizationPolicy) int { return strings.Compare(a.Name, b.Name) })
}
