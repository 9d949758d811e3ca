package jwtvalidation

import (
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

func (v *verified) Expiry() time.Time { return v.expiry }
