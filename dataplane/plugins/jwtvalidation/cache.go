package jwtvalidation

import (
	"sync"
	"time"
)

// MaxCachedTokens bounds the verified-token cache.
const MaxCachedTokens = 10_000

// verified is what a verified token said; it is shared by the requests of one token and
// never modified.
type verified struct {
	subject, clientID string
	scopes, audience  []string
	expiry            time.Time
}

// tokenCache maps the SHA-256 of a token to its verified claims, each until its exp.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*verified
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]*verified), max: max}
}

// get returns the token's claims while it has not expired at now.
func (c *tokenCache) get(key *[32]byte, now time.Time) *verified {
	c.mu.RLock()
	v := c.m[*key]
	c.mu.RUnlock()
	if v == nil || !now.Before(v.expiry) {
		return nil
	}
	return v
}

// put caches v; when full it drops the expired entries, then a tenth of the others
// (map order: arbitrary), so the sweep is paid once per many inserts.
func (c *tokenCache) put(key *[32]byte, v *verified, now time.Time) {
	if !now.Before(v.expiry) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expiry) {
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

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
