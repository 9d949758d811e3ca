package tlsbridge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the bridge's counters; the zero value (no Registerer) counts nothing.
type metrics struct {
	handshakeOK, handshakeFailed prometheus.Counter
	minted                       prometheus.Counter
	reloadOK, reloadFailed       prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return &metrics{}, nil
	}
	hs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_tls_bridge_handshakes_total",
		Help: "The agent's TLS handshakes the bridge terminated, by result: ok, failed (the client refused the leaf, or went away; its host is then tunnelled blind for a while).",
	}, []string{"result"})
	minted := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "trustsync_sidecar_tls_bridge_leaves_minted_total",
		Help: "Leaves the bridge minted (cache misses, expiring leaves, a new CA).",
	})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_tls_bridge_ca_reloads_total",
		Help: "Reads of the bridge CA after its files changed, by result: ok, failed (the previous CA stays in use).",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{hs, minted, reloads} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return &metrics{
		handshakeOK: hs.WithLabelValues("ok"), handshakeFailed: hs.WithLabelValues("failed"),
		minted:   minted,
		reloadOK: reloads.WithLabelValues("ok"), reloadFailed: reloads.WithLabelValues("failed"),
	}, nil
}

func inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}
