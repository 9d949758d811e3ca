package opa

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/plugins/internal/sharedmetrics"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Results of a decision, the metric's result label.
const (
	resultAllow    = sidecarconfig.ResultAllow
	resultDeny     = sidecarconfig.ResultDeny
	resultNotReady = sidecarconfig.ResultNotReady
)

// metrics are one plugin's counters and timers, curried per point at New so that a
// decision looks nothing up.
type metrics struct {
	allow, deny, notReady [len(points)]prometheus.Counter
	seconds               [len(points)]prometheus.Observer
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: sidecarconfig.MetricPolicyDecisions,
		Help: "Policy decisions of the sidecar's opa plugin by decision point (inbound/request, ...) and result: allow, deny, not_ready (no policy bundle active yet: 503).",
	}, []string{sidecarconfig.LabelPoint, sidecarconfig.LabelResult})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "trustsync_sidecar_policy_decision_seconds",
		Help:    "Time of one policy decision of the sidecar's opa plugin, building the input document and evaluating it, by decision point.",
		Buckets: prometheus.ExponentialBucketsRange(5e-6, 1e-2, 12),
	}, []string{"point"})
	if r != nil {
		// The inbound and outbound pipelines each have an opa plugin, registered with
		// one registry: the second shares the first's collectors.
		var err error
		if decisions, err = sharedmetrics.Register(r, decisions); err != nil {
			return nil, err
		}
		if seconds, err = sharedmetrics.Register(r, seconds); err != nil {
			return nil, err
		}
	}
	m := &metrics{}
	for i, pt := range points {
		name := pt.String()
		m.allow[i] = decisions.WithLabelValues(name, resultAllow)
		m.deny[i] = decisions.WithLabelValues(name, resultDeny)
		m.notReady[i] = decisions.WithLabelValues(name, resultNotReady)
		m.seconds[i] = seconds.WithLabelValues(name)
	}
	return m, nil
}
