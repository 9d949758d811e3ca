package mtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// DefaultDialTimeout bounds the TCP dial and, separately, the TLS handshake of Dialer, as
// upstream's outbound strict mode (10 s each).
const DefaultDialTimeout = 10 * time.Second

// sessionCacheSize is how many peers' TLS session tickets the client keeps: a sidecar
// talks to few distinct callees, and a miss costs only a full handshake.
const sessionCacheSize = 256

// ServerConfig is the inbound TLS configuration: TLS 1.3 only, a client certificate
// required, verified against src's current bundle and authorized by a at every
// handshake (resumed ones too), and src's current SVID presented. Refused IDs are
// counted as inbound peer_unauthorized.
func ServerConfig(src Source, a Authorizer, m *Metrics) *tls.Config {
	z := a.compile(m.counter(inPeerUnauthorized))
	// go-spiffe verifies in VerifyPeerCertificate against the bundle it asks src for at
	// that moment (no ClientCAs pool fixed at startup), so a rotated CA is trusted at once.
	cfg := tlsconfig.MTLSServerConfig(src, src, z.authorize)
	cfg.MinVersion = tls.VersionTLS13
	cfg.VerifyConnection = z.verifyResumed(src)
	return cfg
}

// ClientConfig is the outbound (strict) TLS configuration: TLS 1.3 only, the callee's
// SVID verified against src's current bundle and authorized by a, src's current SVID
// presented, and a session cache so that a new connection to a known callee resumes
// instead of doing a full handshake. Refused IDs are counted as outbound
// peer_unauthorized. The host name is not verified (SPIFFE authenticates the ID, not the
// name); Dialer sets ServerName only for SNI.
func ClientConfig(src Source, a Authorizer, m *Metrics) *tls.Config {
	z := a.compile(m.counter(outPeerUnauthorized))
	cfg := tlsconfig.MTLSClientConfig(src, src, z.authorize)
	cfg.MinVersion = tls.VersionTLS13
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	cfg.VerifyConnection = z.verifyResumed(src)
	return cfg
}

// Dialer dials TCP, then does the TLS handshake with cfg (normally ClientConfig's) and
// ServerName = addr's host, each step bounded by timeout (DefaultDialTimeout when not
// positive) and by ctx. It returns the *tls.Conn: the HTTP transport speaks plain
// HTTP/1.1 over it on an http:// URL, as upstream (no ALPN). Each attempt is counted
// once as outbound ok, failed or (by cfg) peer_unauthorized.
//
// In TLS 1.3 the server verifies the client's certificate after the client has finished
// its handshake, so a callee that refuses our SVID shows as an error on the first read,
// not here.
func Dialer(cfg *tls.Config, timeout time.Duration, m *Metrics) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			m.inc(outFailed)
			return nil, fmt.Errorf("mtls: dialing %q: %w", addr, err)
		}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			m.inc(outFailed)
			return nil, fmt.Errorf("mtls: %w", err)
		}
		// One Config per new connection (not per request): ServerName differs per host,
		// and the clone shares cfg's session cache.
		c := cfg.Clone()
		c.ServerName = host
		tc := tls.Client(raw, c)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = raw.Close()
			if !errors.Is(err, ErrPeerUnauthorized) { // counted by cfg's authorizer
				m.inc(outFailed)
			}
			return nil, fmt.Errorf("mtls: TLS handshake with %s: %w", addr, err)
		}
		m.inc(outOK)
		return tc, nil
	}
}
