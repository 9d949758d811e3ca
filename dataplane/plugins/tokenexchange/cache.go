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

func (v *issued) Expiry() time.Time { return v.expiry }
