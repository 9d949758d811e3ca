package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Recorder holds the engine's metrics.
type Recorder struct {
	duration *prometheus.HistogramVec
	objects  *prometheus.CounterVec
	drifted  *prometheus.GaugeVec
	requests *prometheus.CounterVec
}

// NewRecorder creates the metrics and registers them with reg.
func NewRecorder(reg prometheus.Registerer) *Recorder {
	r := &Recorder{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trustsync_reconcile_duration_seconds",
			Help:    "Duration of a reconcile.",
			Buckets: prometheus.ExponentialBucketsRange(0.01, 1800, 10),
		}, []string{"kind", "namespace", "name"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_objects_total",
			Help: "Objects handled by reconciles, by action (created, configured, unchanged, pruned, drifted).",
		}, []string{"namespace", "name", "action"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trustsync_drifted_objects",
			Help: "Objects of a Sync that differ from Git at the last check.",
		}, []string{"namespace", "name"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_api_requests_total",
			Help: "Kubernetes API requests sent by the engine, by verb (dryrun counted apart).",
		}, []string{"verb"}),
	}
	reg.MustRegister(r.duration, r.objects, r.drifted, r.requests)
	return r
}

// ReconcileDuration records how long one reconcile took.
func (r *Recorder) ReconcileDuration(kind, namespace, name string, d time.Duration) {
	if r != nil {
		r.duration.WithLabelValues(kind, namespace, name).Observe(d.Seconds())
	}
}

// Objects adds n objects handled with the action.
func (r *Recorder) Objects(namespace, name, action string, n int) {
	if r != nil && n > 0 {
		r.objects.WithLabelValues(namespace, name, action).Add(float64(n))
	}
}

// Drifted sets the number of drifted objects of a Sync.
func (r *Recorder) Drifted(namespace, name string, n int) {
	if r != nil {
		r.drifted.WithLabelValues(namespace, name).Set(float64(n))
	}
}

// Request counts one API request; use it as a RequestCounter's OnRequest.
func (r *Recorder) Request(verb string) {
	if r != nil {
		r.requests.WithLabelValues(verb).Inc()
	}
}

// Forget removes the series of a deleted Sync.
func (r *Recorder) Forget(namespace, name string) {
	if r == nil {
		return
	}
	r.drifted.DeleteLabelValues(namespace, name)
	r.duration.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
	r.objects.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
