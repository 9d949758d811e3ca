package syncs

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// firstUnavailableRetry is how soon an attempt the API server did not answer is
// retried; each further one in a row waits twice as long, up to the Sync's retry
// interval. A Sync's retry interval is an hour by default: an API server restarting
// mid-apply must not leave a revision half-applied for that long.
const firstUnavailableRetry = time.Second

// retryUnavailable counts one more attempt in a row the API server did not answer and
// returns how soon to try again: doubling from firstUnavailableRetry, at most max.
func (r *Reconciler) retryUnavailable(key types.NamespacedName, max time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unanswered == nil {
		r.unanswered = map[types.NamespacedName]int{}
	}
	n := r.unanswered[key]
	r.unanswered[key] = n + 1
	wait := firstUnavailableRetry << min(n, 16)
	if max > 0 && wait > max {
		return max
	}
	return wait
}

// answered ends a run of attempts the API server did not answer.
func (r *Reconciler) answered(key types.NamespacedName) {
	r.mu.Lock()
	delete(r.unanswered, key)
	r.mu.Unlock()
}
