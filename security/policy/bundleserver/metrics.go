package bundleserver

import "github.com/prometheus/client_golang/prometheus"

type serverMetrics struct {
	requests     *prometheus.CounterVec
	builds       *prometheus.CounterVec
	cache        *prometheus.CounterVec
	buildSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_bundle_requests_total", Help: "Bundle requests by HTTP status code.",
		}, []string{"code"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_bundle_builds_total", Help: "Bundle builds by result: built, or failed (the last good bundle is kept).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_bundle_cache_total", Help: "Bundle lookups by result: hit (current bundle cached) or miss (built).",
		}, []string{"result"}),
		buildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "trustsync_bundle_build_duration_seconds", Help: "Time to assemble, compile and archive one bundle.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.builds, m.cache, m.buildSeconds)
	}
	return m
}
