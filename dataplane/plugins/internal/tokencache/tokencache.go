package tokencache

import (
	"sync"
	"time"
)

// Expiring is a cached value: it is served until Expiry.
type Expiring interface {
	Expiry() time.Time
}

// Cache maps a key (a SHA-256) to a value until the value's expiry, for at most max
// entries. It is safe for concurrent use; values are shared and must not be modified.
type Cache[V Expiring] struct {
	mu  sync.RWMutex
	m   map[[32]byte]V
	max int
}

// New makes a cache of at most max entries.
func New[V Expiring](max int) *Cache[V] {
	return &Cache[V]{m: make(map[[32]byte]V), max: max}
}

// Get returns the value of key while it has not expired at now; the zero value when
// there is none.
func (c *Cache[V]) Get(key *[32]byte, now time.Time) V {
	c.mu.RLock()
	v, ok := c.m[*key]
	c.mu.RUnlock()
	if !ok || !now.Before(v.Expiry()) {
		var zero V
		return zero
	}
	return v
}

// Put caches v unless it has expired; when full it drops the expired entries, then a
// tenth of the others (map order: arbitrary), so the sweep is paid once per many
// inserts.
func (c *Cache[V]) Put(key *[32]byte, v V, now time.Time) {
	if !now.Before(v.Expiry()) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.Expiry()) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max-c.max/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[*key] = v
}

// Len is the number of entries.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
