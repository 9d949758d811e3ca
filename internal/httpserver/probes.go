package httpserver

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Check is one health or readiness check; controller-runtime's healthz.Checker has this
// type.
type Check func(*http.Request) error

// Probes serves /healthz and /readyz: 200 "ok" when every check of the kind passes, else
// 500 naming the failing checks. Their errors are not shown: a probe port is unauthenticated.
type Probes struct {
	mu      sync.RWMutex
	healthz map[string]Check
	readyz  map[string]Check
}

// AddHealthz adds a liveness check.
func (p *Probes) AddHealthz(name string, c Check) { p.add(&p.healthz, name, c) }

// AddReadyz adds a readiness check.
func (p *Probes) AddReadyz(name string, c Check) { p.add(&p.readyz, name, c) }

func (p *Probes) add(m *map[string]Check, name string, c Check) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *m == nil {
		*m = map[string]Check{}
	}
	(*m)[name] = c
}

func (p *Probes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var kind map[string]Check
	p.mu.RLock()
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/healthz":
		kind = p.healthz
	case "/readyz":
		kind = p.readyz
	default:
		p.mu.RUnlock()
		http.NotFound(w, r)
		return
	}
	names := slices.Sorted(maps.Keys(kind))
	checks := make([]Check, len(names))
	for i, name := range names {
		checks[i] = kind[name]
	}
	p.mu.RUnlock()
	var failed []string
	for i, c := range checks {
		if err := c(r); err != nil {
			failed = append(failed, names[i])
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(failed) > 0 {
		http.Error(w, "failed: "+strings.Join(failed, ", "), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}
