package jwtvalidation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of trustsync_sidecar_jwt_validations_total.
const (
	resultAllowed   = "allowed"
	resultBypassed  = "bypassed"
	resultMissing   = "missing"
	resultMalformed = "malformed"
	resultInvalid   = "invalid"
	resultPending   = "pending"
)

// Results of trustsync_sidecar_jwks_fetches_total.
const (
	fetchSuccess = "success"
	fetchError   = "error"
)

// metrics holds the counters themselves, resolved once, so a request costs no label
// lookup.
type metrics struct {
	allowed, bypassed, missing, malformed, invalid, pending prometheus.Counter
	fetchOK, fetchFailed                                    prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	validations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_jwt_validations_total",
		Help: "Inbound bearer-token checks by result: allowed, bypassed (a bypass path), missing (no Authorization), malformed (not Bearer <token>), invalid (the token failed validation), pending (no expected audience yet).",
	}, []string{"result"})
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_jwks_fetches_total",
		Help: "JWKS fetches by result: success, error (no answer, a status other than 200, or a key set that does not read).",
	}, []string{"result"})
	m := &metrics{
		allowed:     validations.WithLabelValues(resultAllowed),
		bypassed:    validations.WithLabelValues(resultBypassed),
		missing:     validations.WithLabelValues(resultMissing),
		malformed:   validations.WithLabelValues(resultMalformed),
		invalid:     validations.WithLabelValues(resultInvalid),
		pending:     validations.WithLabelValues(resultPending),
		fetchOK:     fetches.WithLabelValues(fetchSuccess),
		fetchFailed: fetches.WithLabelValues(fetchError),
	}
	if r == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{validations, fetches} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("jwt-validation: registering metrics: %w", err)
		}
	}
	return m, nil
}
