package tlsbridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Defaults of Options, upstream's where upstream has one.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultSkipTTL          = 10 * time.Minute
	DefaultMaxSkipped       = 4096
	DefaultMaxLeaves        = 1024
	DefaultCACheckInterval  = 30 * time.Second
)

// Options configure a Bridge. Zero fields take the defaults.
type Options struct {
	// CADir holds the CA: tls.crt and tls.key (cert-manager's Secret), else ca.crt and
	// ca.key.
	CADir string
	// GenerateCA writes a self-signed CA (ECDSA P-256, 365 days) to CADir as ca.crt and
	// ca.key when it holds none: for demos.
	GenerateCA bool
	// UpstreamCABundle is a PEM file of CAs trusted, besides the system roots, when the
	// decrypted requests are re-originated.
	UpstreamCABundle string
	// PassthroughHosts are never terminated (compared exactly, case-insensitively).
	PassthroughHosts []string
	// Ports are the destination ports terminated (default 443, 8443).
	Ports []int
	// HandshakeTimeout bounds the agent's TLS handshake.
	HandshakeTimeout time.Duration
	// SkipTTL is how long a host whose client refused a leaf is tunnelled blind;
	// MaxSkipped bounds how many such hosts are kept.
	SkipTTL    time.Duration
	MaxSkipped int
	// MaxLeaves bounds the cache of minted leaves.
	MaxLeaves int
	// CACheckInterval is how often, at most, the CA's files are looked at for a change.
	CACheckInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Registerer gets the bridge's counters (none when nil).
	Registerer prometheus.Registerer
	Log        logr.Logger
}

// OptionsFor are the options of a resolved tls_bridge block.
func OptionsFor(r *sidecarconfig.ResolvedTLSBridge) Options {
	return Options{
		CADir:            r.CADir,
		GenerateCA:       r.GenerateCA,
		UpstreamCABundle: r.UpstreamCABundle,
		PassthroughHosts: slices.Clone(r.PassthroughHosts),
		Ports:            slices.Clone(r.Ports),
	}
}

func (o *Options) defaults() {
	if len(o.Ports) == 0 {
		o.Ports = slices.Clone(sidecarconfig.DefaultTLSBridgePorts)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.SkipTTL <= 0 {
		o.SkipTTL = DefaultSkipTTL
	}
	if o.MaxSkipped <= 0 {
		o.MaxSkipped = DefaultMaxSkipped
	}
	if o.MaxLeaves <= 0 {
		o.MaxLeaves = DefaultMaxLeaves
	}
	if o.CACheckInterval <= 0 {
		o.CACheckInterval = DefaultCACheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
}

// Bridge terminates the agent's TLS to the hosts it decides to, with leaves of its CA.
// It is safe for concurrent use.
type Bridge struct {
	o           Options
	ports       map[int]bool
	passthrough []*sidecarconfig.HostPattern
	skip        *skipSet
	leaves      *minter
	upstream    *tls.Config
	m           *metrics

	caMu      sync.Mutex
	ca        *authority
	caChecked time.Time
}

// New reads (or, with GenerateCA, makes) the CA and the upstream bundle.
func New(o Options) (*Bridge, error) {
	o.defaults()
	if o.CADir == "" {
		return nil, errors.New("tls bridge: no ca_dir")
	}
	b := &Bridge{o: o, ports: make(map[int]bool, len(o.Ports)), skip: newSkipSet(o.SkipTTL, o.MaxSkipped)}
	for _, p := range o.Ports {
		b.ports[p] = true
	}
	for i, h := range o.PassthroughHosts {
		p, err := sidecarconfig.CompileHostPattern(strings.ToLower(strings.TrimSuffix(h, ".")))
		if err != nil {
			return nil, fmt.Errorf("tls bridge passthrough_hosts[%d]: %w", i, err)
		}
		b.passthrough = append(b.passthrough, p)
	}
	if o.GenerateCA {
		if err := generateCA(o.CADir, o.Now()); err != nil {
			return nil, fmt.Errorf("tls bridge: generate_ca in %s: %w", o.CADir, err)
		}
	}
	ca, err := loadCA(o.CADir)
	if err != nil {
		return nil, fmt.Errorf("tls bridge CA: %w", err)
	}
	b.ca, b.caChecked = ca, o.Now()
	if b.m, err = newMetrics(o.Registerer); err != nil {
		return nil, err
	}
	if b.leaves, err = newMinter(o.MaxLeaves, b.m.minted); err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if o.UpstreamCABundle != "" {
		pem, err := files.Read(o.UpstreamCABundle)
		if err != nil {
			return nil, fmt.Errorf("tls bridge upstream_ca_bundle: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls bridge upstream_ca_bundle %s: no PEM certificate", o.UpstreamCABundle)
		}
	}
	b.upstream = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return b, nil
}

// Intercepts reports whether a CONNECT to hostport is one to terminate if the client
// speaks TLS: its port is a bridge port and its host neither a passthrough host nor in
// the skip set.
func (b *Bridge) Intercepts(hostport string) bool {
	host, port, ok := splitHost(hostport)
	if !ok || !b.ports[port] {
		return false
	}
	for _, p := range b.passthrough {
		if p.Match(host) {
			return false
		}
	}
	return !b.skip.has(host, b.o.Now())
}

// Terminates is the decision on a CONNECT to hostport whose client sent first as its
// first bytes (RecordHeaderBytes of them are enough): Intercepts, and a TLS handshake
// record.
func (b *Bridge) Terminates(hostport string, first []byte) bool {
	return IsHandshakeRecord(first) && b.Intercepts(hostport)
}

// Skipped reports whether hostport's host is in the skip set.
func (b *Bridge) Skipped(hostport string) bool {
	host, _, ok := splitHost(hostport)
	return ok && b.skip.has(host, b.o.Now())
}

// Handshake terminates the client's TLS on conn, a CONNECT to hostport: the leaf is
// minted for the SNI, else for the CONNECT host; ALPN offers http/1.1 only; the
// handshake is bounded. When it fails (the client refused the leaf, or went silent)
// the host enters the skip set, so that its next CONNECT is tunnelled blind. The
// caller closes conn on error.
func (b *Bridge) Handshake(ctx context.Context, conn net.Conn, hostport string) (*tls.Conn, error) {
	host, _, ok := splitHost(hostport)
	if !ok {
		return nil, fmt.Errorf("tls bridge: %q is not host:port", hostport)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
			if name == "" {
				name = host
			}
			return b.Leaf(name)
		},
	}
	tc := tls.Server(conn, cfg)
	ctx, cancel := context.WithTimeout(ctx, b.o.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		inc(b.m.handshakeFailed)
		b.skip.add(host, b.o.Now())
		b.o.Log.V(1).Info("tls bridge: the client refused the handshake; its host is tunnelled blind for a while", "host", host, "for", b.o.SkipTTL, "error", err.Error())
		return nil, err
	}
	inc(b.m.handshakeOK)
	return tc, nil
}

// Leaf is the certificate shown for name (a DNS name or an IP address): leaf and CA.
func (b *Bridge) Leaf(name string) (*tls.Certificate, error) {
	now := b.o.Now()
	return b.leaves.get(b.authority(now), name, now)
}

// UpstreamTLS is the client configuration that re-originates the decrypted requests:
// the system roots and the upstream bundle, TLS 1.2 or later. The server name is left
// to the caller (net/http sets it to the dialed host). Callers must not change it.
func (b *Bridge) UpstreamTLS() *tls.Config { return b.upstream }

// CACert is the CA the leaves are signed with now.
func (b *Bridge) CACert() *x509.Certificate { return b.authority(b.o.Now()).cert }

// authority is the current CA, read again when its files changed since the last look
// (at most every CACheckInterval). A CA that does not read, or does not match its key
// (a renewal half written), leaves the last good one in use.
func (b *Bridge) authority(now time.Time) *authority {
	b.caMu.Lock()
	defer b.caMu.Unlock()
	if now.Sub(b.caChecked) < b.o.CACheckInterval {
		return b.ca
	}
	b.caChecked = now
	certPath, keyPath := caFiles(b.o.CADir)
	if stampOf(certPath, keyPath) == b.ca.stamp {
		return b.ca
	}
	ca, err := loadCA(b.o.CADir)
	if err != nil {
		inc(b.m.reloadFailed)
		b.o.Log.Error(err, "tls bridge: the CA's files changed but do not read; the previous CA stays in use")
		return b.ca
	}
	inc(b.m.reloadOK)
	b.o.Log.Info("tls bridge: CA reloaded", "subject", ca.cert.Subject.String(), "notAfter", ca.cert.NotAfter)
	b.ca = ca
	return ca
}
