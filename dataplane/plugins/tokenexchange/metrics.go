package tokenexchange

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/plugins/internal/sharedmetrics"
)

// Results of trustsync_sidecar_token_exchanges_total.
const (
	resultExchanged         = "exchanged"
	resultCacheHit          = "cache_hit"
	resultPassthrough       = "passthrough"
	resultNoRoute           = "no_route"
	resultFailed            = "failed"
	resultNoTokenDenied     = "no_token_denied"
	resultClientCredentials = "client_credentials"
)

// metrics holds the counters themselves, resolved once, so a request costs no label
// lookup.
type metrics struct {
	exchanged, cacheHit, passthrough, noRoute, failed, noTokenDenied, clientCredentials prometheus.Counter
	seconds                                                                             prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_token_exchanges_total",
		Help: "Outbound requests by what token-exchange did: exchanged, cache_hit, passthrough (a passthrough route, or no token under no_token_policy allow), no_route (no route, default_policy passthrough), failed (503), no_token_denied (401), client_credentials (a token obtained without a subject token).",
	}, []string{"result"})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "trustsync_sidecar_token_exchange_seconds",
		Help:    "Duration of the calls to the token endpoint (cache misses only), successful or not.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	// Instances share the collectors registered first (reloads).
	var err error
	if total, err = sharedmetrics.Register(r, total); err != nil {
		return nil, fmt.Errorf("token-exchange: registering metrics: %w", err)
	}
	if seconds, err = sharedmetrics.Register(r, seconds); err != nil {
		return nil, fmt.Errorf("token-exchange: registering metrics: %w", err)
	}
	m := &metrics{
		exchanged:         total.WithLabelValues(resultExchanged),
		cacheHit:          total.WithLabelValues(resultCacheHit),
		passthrough:       total.WithLabelValues(resultPassthrough),
		noRoute:           total.WithLabelValues(resultNoRoute),
		failed:            total.WithLabelValues(resultFailed),
		noTokenDenied:     total.WithLabelValues(resultNoTokenDenied),
		clientCredentials: total.WithLabelValues(resultClientCredentials),
		seconds:           seconds,
	}
	return m, nil
}
