package authbridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/proxy"
)

// requestMetrics count the exchanges of every listener and the time the sidecar adds.
type requestMetrics struct {
	requests *prometheus.CounterVec
	added    *prometheus.HistogramVec
}

// Results of an exchange.
const (
	resultAllowed = "allowed"
	resultDenied  = "denied"
	resultError   = "error"
)

func newRequestMetrics(r prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_sidecar_requests_total",
			Help: "Exchanges by listener (reverse, forward, transparent) and result: allowed (forwarded), denied (a plugin refused), error (the destination failed or the request was malformed).",
		}, []string{"listener", "result"}),
		added: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trustsync_sidecar_added_latency_seconds",
			Help:    "Time the sidecar spent on an exchange, not counting the destination's: plugins, policy, buffering, proxying.",
			Buckets: []float64{20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 0.25, 1},
		}, []string{"listener"}),
	}
	for _, l := range []string{"reverse", "forward", "transparent"} {
		for _, res := range []string{resultAllowed, resultDenied, resultError} {
			m.requests.WithLabelValues(l, res)
		}
		m.added.WithLabelValues(l)
	}
	for _, c := range []prometheus.Collector{m.requests, m.added} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *requestMetrics) record(o *proxy.Outcome) {
	res := resultAllowed
	switch {
	case o.Denied != nil:
		res = resultDenied
	case o.Status >= 500 || o.Status == 400:
		res = resultError
	}
	m.requests.WithLabelValues(o.Listener, res).Inc()
	if added := o.Duration - o.Upstream; added >= 0 {
		m.added.WithLabelValues(o.Listener).Observe(added.Seconds())
	}
}
