package tokenexchange

import (
	"crypto/sha256"
	"sync"
	"time"
)

// MaxCachedTokens bounds the cache of exchanged tokens.
const MaxCachedTokens = 10_000

// cacheMargin is taken off a token's expires_in: a cached token is never handed out in
// its last 30 s, and a token that lives no longer is not cached.
const cacheMargin = 30 * time.Second

// issued is a token the endpoint issued; shared by the requests of one key and never
// modified.
type issued struct {
	// authorization is the header value, "Bearer <token>", built once.
	authorization string
	// subject is the sub of the subject token (or, for client_credentials, of the
	// issued token), read without verification: it names, not authenticates.
	subject string
	expiry  time.Time
}

// cacheKey is sha256(subject ‖ 0 ‖ audience ‖ 0 ‖ scopes ‖ 0 ‖ token URL); a
// client_credentials token has no subject. The parts are joined in a pooled buffer: a
// token of a few KiB costs no allocation.
func cacheKey(subject, audience, scopes, tokenURL string) [32]byte {
	bp := keyBuffers.Get().(*[]byte)
	b := append((*bp)[:0], subject...)
	b = append(b, 0)
	b = append(b, audience...)
	b = append(b, 0)
	b = append(b, scopes...)
	b = append(b, 0)
	b = append(b, tokenURL...)
	sum := sha256.Sum256(b)
	if cap(b) <= maxPooledKeyBuffer {
		*bp = b
		keyBuffers.Put(bp)
	}
	return sum
}

// maxPooledKeyBuffer keeps a hostile huge token from pinning its buffer in the pool.
const maxPooledKeyBuffer = 2 * MaxTokenBytes

var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// tokenCache maps a cache key to its token until the token's expiry.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*issued
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]*issued), max: max}
}

func (c *tokenCache) get(key *[32]byte, now time.Time) *issued {
	c.mu.RLock()
	e := c.m[*key]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expiry) {
		return nil
	}
	return e
}

// put caches e; when full it drops the expired entries, then a tenth of the others
// (map order: arbitrary), so the sweep is paid once per many inserts.
func (c *tokenCache) put(key *[32]byte, e *issued, now time.Time) {
	if !now.Before(e.expiry) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*key]; !ok && len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.expiry) {
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
	c.m[*key] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
