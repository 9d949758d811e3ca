package jwtvalidation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/plugins/internal/sharedmetrics"
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
	// Instances share the collectors registered first (inbound entries, reloads).
	var err error
	if validations, err = sharedmetrics.Register(r, validations); err != nil {
		return nil, fmt.Errorf("jwt-validation: registering metrics: %w", err)
	}
	if fetches, err = sharedmetrics.Register(r, fetches); err != nil {
		return nil, fmt.Errorf("jwt-validation: registering metrics: %w", err)
	}
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
	return m, nil
}
