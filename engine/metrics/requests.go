package metrics

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Verbs the request counter tells apart.
const (
	VerbGet    = "get"
	VerbList   = "list"
	VerbWatch  = "watch"
	VerbApply  = "apply"  // server-side apply that writes
	VerbDryRun = "dryrun" // any request with dryRun=All
	VerbCreate = "create"
	VerbUpdate = "update"
	VerbPatch  = "patch"
	VerbDelete = "delete"
	VerbOther  = "other"
)

// RequestCounter counts API requests by verb; it is a RoundTripper wrapper (see Wrap).
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
	// OnRequest, when set, is called for every request with its verb (e.g. to feed a
	// Prometheus counter).
	OnRequest func(verb string)
}

// NewRequestCounter returns an empty counter.
func NewRequestCounter() *RequestCounter {
	return &RequestCounter{counts: map[string]*atomic.Int64{}}
}

// Wrap returns a RoundTripper that counts then forwards; use it as a rest.Config's
// WrapTransport.
func (c *RequestCounter) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.add(Verb(r))
		return next.RoundTrip(r)
	})
}

func (c *RequestCounter) add(verb string) {
	c.mu.Lock()
	n, ok := c.counts[verb]
	if !ok {
		n = &atomic.Int64{}
		c.counts[verb] = n
	}
	c.mu.Unlock()
	n.Add(1)
	if c.OnRequest != nil {
		c.OnRequest(verb)
	}
}

// Count returns the requests of a verb so far.
func (c *RequestCounter) Count(verb string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.counts[verb]; ok {
		return n.Load()
	}
	return 0
}

// Writes counts requests that change the cluster (dry-runs excluded).
func (c *RequestCounter) Writes() int64 {
	return c.Count(VerbApply) + c.Count(VerbCreate) + c.Count(VerbUpdate) + c.Count(VerbPatch) + c.Count(VerbDelete)
}

// Reset sets every count to zero.
func (c *RequestCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]*atomic.Int64{}
}

// Verb classifies a Kubernetes API request.
func Verb(r *http.Request) string {
	q := r.URL.Query()
	if q.Get("dryRun") != "" {
		return VerbDryRun
	}
	switch r.Method {
	case http.MethodGet:
		if q.Get("watch") == "true" || q.Get("watch") == "1" {
			return VerbWatch
		}
		if isCollection(r.URL.Path) {
			return VerbList
		}
		return VerbGet
	case http.MethodPost:
		return VerbCreate
	case http.MethodPut:
		return VerbUpdate
	case http.MethodPatch:
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			return VerbApply
		}
		return VerbPatch
	case http.MethodDelete:
		return VerbDelete
	}
	return VerbOther
}

// isCollection reports whether an API path names a collection: /api/v1/namespaces/x/pods
// has an even number of segments after the group version, /.../pods/name an odd one.
func isCollection(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return false
	}
	if len(rest) >= 2 && rest[0] == "namespaces" {
		if len(rest) == 2 {
			return false // a namespace itself
		}
		rest = rest[2:]
	}
	return len(rest) == 1
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
