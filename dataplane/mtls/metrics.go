package mtls

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// The label values of trustsync_sidecar_mtls_connections_total.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"

	ResultTLSAccepted      = "tls_accepted"      // inbound: handshake completed
	ResultPlainAccepted    = "plain_accepted"    // inbound, permissive: served as plaintext
	ResultPlainRejected    = "plain_rejected"    // inbound, strict: plaintext closed
	ResultHandshakeFailed  = "handshake_failed"  // inbound: TLS handshake failed otherwise
	ResultPeerUnauthorized = "peer_unauthorized" // both: verified SVID, ID not authorized
	ResultOK               = "ok"                // outbound: dial and handshake completed
	ResultFailed           = "failed"            // outbound: dial or handshake failed otherwise
)

type counter int

const (
	inTLSAccepted counter = iota
	inPlainAccepted
	inPlainRejected
	inHandshakeFailed
	inPeerUnauthorized
	outOK
	outFailed
	outPeerUnauthorized
	numCounters
)

var counterLabels = [numCounters][2]string{
	inTLSAccepted:       {DirectionInbound, ResultTLSAccepted},
	inPlainAccepted:     {DirectionInbound, ResultPlainAccepted},
	inPlainRejected:     {DirectionInbound, ResultPlainRejected},
	inHandshakeFailed:   {DirectionInbound, ResultHandshakeFailed},
	inPeerUnauthorized:  {DirectionInbound, ResultPeerUnauthorized},
	outOK:               {DirectionOutbound, ResultOK},
	outFailed:           {DirectionOutbound, ResultFailed},
	outPeerUnauthorized: {DirectionOutbound, ResultPeerUnauthorized},
}

// Metrics counts mTLS connections by direction and result; each connection attempt is
// counted once. A nil *Metrics counts nothing and is valid everywhere.
type Metrics struct {
	conns *prometheus.CounterVec
	c     [numCounters]prometheus.Counter // resolved once: no label lookup per connection
}

// NewMetrics makes the counters and registers them with r (none when r is nil).
func NewMetrics(r prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{conns: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustsync_sidecar_mtls_connections_total",
		Help: "Sidecar-to-sidecar connections by direction and result. Inbound: tls_accepted, plain_accepted (permissive), plain_rejected (strict), handshake_failed, peer_unauthorized (the SVID verified, its SPIFFE ID is outside the trust domain or the allowlist). Outbound: ok, failed, peer_unauthorized.",
	}, []string{"direction", "result"})}
	for i, l := range counterLabels {
		m.c[i] = m.conns.WithLabelValues(l[0], l[1])
	}
	if r != nil {
		if err := r.Register(m.conns); err != nil {
			return nil, fmt.Errorf("registering trustsync_sidecar_mtls_connections_total: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) inc(c counter) {
	if m != nil {
		m.c[c].Inc()
	}
}

// counter is the Prometheus counter of c, nil for a nil *Metrics.
func (m *Metrics) counter(c counter) prometheus.Counter {
	if m == nil {
		return nil
	}
	return m.c[c]
}
