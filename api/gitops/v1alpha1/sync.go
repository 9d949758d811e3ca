package v1alpha1

import (
	"path"
	"strings"
	"time"
)

// SourcePath is spec.path ("./", "./apps/prod", "apps") as a path relative to the root of
// the source's tree: "." for the root, never leading "./", "/" or "..".
func (s *SyncSpec) SourcePath() string {
	p := path.Clean("/" + strings.TrimSpace(s.Path))
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

// RetryAfterFailure is how soon a failed reconcile is retried: spec.retryInterval, else
// the interval.
func (s *SyncSpec) RetryAfterFailure() time.Duration {
	if s.RetryInterval != nil {
		return s.RetryInterval.Duration
	}
	return s.Interval.Duration
}
