package jwtvalidation

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Bounds of the JWKS.
const (
	// MaxJWKSBytes bounds a JWKS response body.
	MaxJWKSBytes = 1 << 20
	// MaxKeys bounds the keys of a JWKS; a larger set is refused.
	MaxKeys = 100
	// RefetchInterval is the least time between two fetches for an unknown kid.
	RefetchInterval = 10 * time.Second
	// RefreshInterval is how often Run refreshes the JWKS.
	RefreshInterval = 15 * time.Minute
	// FetchTimeout bounds one JWKS fetch.
	FetchTimeout = 10 * time.Second
)

// keySet is the issuer's current public keys, by kid.
type keySet struct {
	byKID map[string]*jose.JSONWebKey
	// only is the set's single key, for a token without kid; nil when the set has
	// several (a token without kid cannot then say which key signed it).
	only *jose.JSONWebKey
}

// jwks fetches and caches a JWKS. A failed fetch leaves the last good set (or none) in
// place: nothing negative is remembered, so the next need fetches again.
type jwks struct {
	url     string
	client  *http.Client
	now     func() time.Time
	metrics *metrics

	group singleflight.Group

	mu   sync.RWMutex
	keys *keySet
	// fetched is when the last fetch started; it rate-limits the unknown-kid refetches.
	fetched time.Time
}

var errUnknownKey = errors.New("no key of the JWKS has this kid")

// key finds the key of kid, fetching the JWKS when there is none yet or kid is unknown
// (rate-limited to one fetch per RefetchInterval once a set is loaded).
func (j *jwks) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	j.mu.RLock()
	ks := j.keys
	j.mu.RUnlock()
	if k := ks.lookup(kid); k != nil {
		return k, nil
	}
	ks, err := j.refresh(ctx, false)
	if err != nil {
		return nil, err
	}
	if k := ks.lookup(kid); k != nil {
		return k, nil
	}
	return nil, errUnknownKey
}

func (ks *keySet) lookup(kid string) *jose.JSONWebKey {
	if ks == nil {
		return nil
	}
	if kid == "" {
		return ks.only
	}
	return ks.byKID[kid]
}

// refresh fetches the JWKS, once for all concurrent callers. Unless force, a set loaded
// less than RefetchInterval ago is returned as is. The caller stops waiting when ctx
// ends; the fetch itself runs on with its own timeout, for the others.
func (j *jwks) refresh(ctx context.Context, force bool) (*keySet, error) {
	key := "refetch"
	if force {
		key = "refresh"
	}
	ch := j.group.DoChan(key, func() (any, error) {
		j.mu.Lock()
		if !force && j.keys != nil && j.now().Sub(j.fetched) < RefetchInterval {
			ks := j.keys
			j.mu.Unlock()
			return ks, nil
		}
		j.fetched = j.now()
		j.mu.Unlock()
		ks, err := j.fetch()
		if err != nil {
			j.metrics.fetchFailed.Inc()
			j.mu.RLock()
			defer j.mu.RUnlock()
			return j.keys, err
		}
		j.metrics.fetchOK.Inc()
		j.mu.Lock()
		j.keys = ks
		j.mu.Unlock()
		return ks, nil
	})
	select {
	case res := <-ch:
		ks, _ := res.Val.(*keySet)
		if res.Err != nil {
			return ks, res.Err
		}
		return ks, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch GETs and parses the JWKS.
func (j *jwks) fetch() (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", j.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", j.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxJWKSBytes))
		return nil, fmt.Errorf("JWKS %s: status %d", j.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: reading: %w", j.url, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("JWKS %s: larger than %d bytes", j.url, MaxJWKSBytes)
	}
	ks, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", j.url, err)
	}
	return ks, nil
}

// parseKeySet reads a JWKS and keeps its public RSA and EC signing keys. A key that does
// not read (an unknown kty, say) is skipped rather than failing the set, as other
// verifiers do.
func parseKeySet(body []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS: %w", err)
	}
	if len(doc.Keys) > MaxKeys {
		return nil, fmt.Errorf("%d keys; at most %d are accepted", len(doc.Keys), MaxKeys)
	}
	ks := &keySet{byKID: make(map[string]*jose.JSONWebKey, len(doc.Keys))}
	var usable []*jose.JSONWebKey
	for _, raw := range doc.Keys {
		k := new(jose.JSONWebKey)
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			continue // private, symmetric or unsupported keys never verify tokens here
		}
		usable = append(usable, k)
		if k.KeyID != "" {
			ks.byKID[k.KeyID] = k
		}
	}
	if len(usable) == 0 {
		return nil, errors.New("no RSA or EC signing key")
	}
	if len(usable) == 1 {
		ks.only = usable[0]
	}
	return ks, nil
}
