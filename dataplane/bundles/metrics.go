package bundles

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	fetches  *prometheus.CounterVec
	revision *prometheus.GaugeVec
}

func newMetrics(r prometheus.Registerer, sinceLastSuccess func() float64) (*metrics, error) {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_sidecar_bundle_fetches_total",
			Help: "Policy bundle checks by result: updated (a new bundle is active), not_modified (304), error (no answer, TLS refused, or a status other than 200 and 304), refused (an archive that does not read or compile; the active bundle stays).",
		}, []string{"result"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trustsync_sidecar_bundle_active_info",
			Help: "The active policy bundle's revision (1); absent while none is active.",
		}, []string{"revision"}),
	}
	for _, res := range []string{resultUpdated, resultNotModified, resultError, resultRefused} {
		m.fetches.WithLabelValues(res)
	}
	if r == nil {
		return m, nil
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trustsync_sidecar_bundle_last_success_age_seconds",
		Help: "Seconds since the last check that got a bundle or a 304 (since the client started, before the first).",
	}, sinceLastSuccess)
	for _, c := range []prometheus.Collector{m.fetches, m.revision, age} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setRevision moves the info gauge from the old active bundle to the new one.
func (m *metrics) setRevision(old, next *active) {
	if old != nil {
		m.revision.DeleteLabelValues(old.revision)
	}
	m.revision.WithLabelValues(next.revision).Set(1)
}
