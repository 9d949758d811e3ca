package authbridge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/trustsync/trustsync/dataplane/bundles"
	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/dataplane/origdst"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/proxy"
	"github.com/trustsync/trustsync/dataplane/tlsbridge"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Defaults of Options.
const (
	DefaultConfigPath = "/etc/authbridge/config.yaml"
	// DefaultStateDir keeps the last good policy bundle; the webhook mounts an emptyDir
	// there, so a sidecar restarted while the bundle server is down still decides.
	DefaultStateDir = "/var/lib/authbridge"
	// DefaultShutdownTimeout is upstream's graceful shutdown.
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultDrain is how long a replaced pipeline's background work runs on after a
	// reload, for the requests still in it.
	DefaultDrain = 30 * time.Second
)

// Options configure the sidecar. Zero fields take the defaults.
type Options struct {
	// ConfigPath is config.yaml.
	ConfigPath string
	// StateDir keeps the last good policy bundle.
	StateDir string
	// Lite runs only the lite image's plugins (jwt-validation, token-exchange).
	Lite bool
	// LookupEnv expands ${VAR} in the configuration; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// AccessLog gets one JSON line per exchange; none when nil.
	AccessLog io.Writer
	// Log is the sidecar's own log.
	Log logr.Logger
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// Drain is how long a replaced pipeline's background work runs on after a reload.
	Drain time.Duration
	// ReloadDebounce is how long the configuration must be quiet before a reload.
	ReloadDebounce time.Duration
	// Ready, when set, is called with the listeners' bound addresses once they serve
	// (tests bind port 0).
	Ready func(Addrs)
}

// Addrs are the addresses the listeners are bound to.
type Addrs struct {
	Reverse, Forward, Transparent, Health, Stats string
}

func (o *Options) defaults() {
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfigPath
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	if o.ReloadDebounce <= 0 {
		o.ReloadDebounce = 250 * time.Millisecond
	}
}

// loaded is one read of the configuration.
type loaded struct {
	resolved *sidecarconfig.Resolved
	sum      [32]byte
}

// load reads and validates the configuration file.
func load(path string, env func(string) (string, bool)) (*loaded, error) {
	data, err := files.Read(path)
	if err != nil {
		return nil, err
	}
	cfg, err := sidecarconfig.Load(data, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := cfg.Validate()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !r.ThisDataPlane {
		return nil, fmt.Errorf("%s: mode %s is run by %s, not by this data plane (proxy-sidecar)", path, r.Mode, r.RunBy)
	}
	return &loaded{resolved: r, sum: sha256.Sum256(data)}, nil
}

// sidecar is the running process.
type sidecar struct {
	o        Options
	reg      *prometheus.Registry
	builder  *builder
	current  atomic.Pointer[pipelines]
	config   atomic.Pointer[loaded]
	identity *workloadIdentity
	bundles  *bundles.Client
	metrics  *requestMetrics
	access   *accessLog
	reloads  reloadStatus
	// svidReady is set once the Workload API served the SVID.
	svidReady atomic.Bool
	started   atomic.Bool
	// healthAddr and statsAddr are where the probe and stats servers are bound.
	healthAddr, statsAddr string
}

// Run runs the sidecar until ctx is done: it fails when the configuration is invalid
// or a listener cannot bind, and returns nil after a graceful shutdown.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	first, err := load(o.ConfigPath, o.LookupEnv)
	if err != nil {
		return err
	}
	r := first.resolved
	for _, w := range r.Warnings {
		o.Log.Info("configuration warning", "field", w.Field, "warning", w.Message)
	}
	s := &sidecar{o: o, reg: prometheus.NewRegistry()}
	s.config.Store(first)
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.metrics, err = newRequestMetrics(s.reg); err != nil {
		return err
	}
	if o.AccessLog != nil {
		s.access = newAccessLog(o.AccessLog)
		defer s.access.close()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	// Health first: the kubelet sees "not ready" while the SVID and the bundle are
	// pending, rather than a refused connection.
	healthLn, err := net.Listen("tcp", r.Listeners.Health)
	if err != nil {
		return fmt.Errorf("listener.health_addr %s: %w", r.Listeners.Health, err)
	}
	s.healthAddr = healthLn.Addr().String()
	serve("health", func() error { return httpserver.Serve(ctx, healthServer(s), healthLn, o.ShutdownTimeout) })
	statsLn, err := net.Listen("tcp", r.Listeners.Stats)
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("stats.address %s: %w", r.Listeners.Stats, err)
	}
	s.statsAddr = statsLn.Addr().String()
	serve("stats", func() error { return httpserver.Serve(ctx, statsServer(s), statsLn, o.ShutdownTimeout) })

	err = s.start(ctx, r, serve)
	if err == nil {
		select {
		case err = <-errs:
		case <-ctx.Done():
		}
	}
	cancel()
	wg.Wait()
	if p := s.current.Load(); p != nil {
		p.close()
	}
	s.identity.close()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// start brings up the identity, the pipelines and the proxy listeners.
func (s *sidecar) start(ctx context.Context, r *sidecarconfig.Resolved, serve func(string, func() error)) error {
	o := s.o
	opaCfg := opaConfig(r)
	if r.SPIFFE != nil {
		id, err := openIdentity(ctx, r.SPIFFE, agentSPIFFEID(clientIDFile(r)), needsJWTSVID(r), o.Log)
		if err != nil {
			return err
		}
		s.identity = id
		s.svidReady.Store(true)
		o.Log.Info("X.509-SVID received", "id", id.id.String())
	}
	if opaCfg != nil {
		if s.identity == nil {
			return errors.New("opa needs the pod's X.509-SVID, and the configuration has no spiffe block")
		}
		bc, err := newBundleClient(opaCfg, s.identity.id, s.identity.x509, s.identity.x509, o.StateDir, s.reg, o.Log)
		if err != nil {
			return err
		}
		s.bundles = bc
		serve("policy bundles", func() error {
			if err := bc.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	s.builder = &builder{reg: s.reg, log: o.Log, identity: s.identity, bundles: s.bundles, lite: o.Lite}
	p, err := s.builder.build(r)
	if err != nil {
		return err
	}
	s.current.Store(p)

	var mm *mtls.Metrics
	if r.MTLS != "" {
		if mm, err = mtls.NewMetrics(s.reg); err != nil {
			return err
		}
	}
	authz, err := s.authorizer(r)
	if err != nil {
		return err
	}
	onDone := func(out *proxy.Outcome) {
		s.metrics.record(out)
		s.access.record(out)
	}
	var addrs Addrs
	addrs.Health, addrs.Stats = s.healthAddr, s.statsAddr

	if l := r.Listeners; l.ReverseProxy != "" {
		backend, err := url.Parse(l.ReverseProxyBackend)
		if err != nil {
			return fmt.Errorf("listener.reverse_proxy_backend: %w", err)
		}
		h, err := proxy.NewReverse(proxy.ReverseOptions{Backend: backend, Pipeline: s.inbound, OnDone: onDone, Log: o.Log.WithName("reverse")})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", l.ReverseProxy)
		if err != nil {
			return fmt.Errorf("listener.reverse_proxy_addr %s: %w", l.ReverseProxy, err)
		}
		addrs.Reverse = ln.Addr().String()
		if r.MTLS != "" {
			ln = mtls.Listen(ln, r.MTLS, mtls.ServerConfig(s.identity.x509, authz, mm), mtls.ListenOptions{Metrics: mm})
		}
		serve("reverse proxy", func() error { return httpserver.Serve(ctx, proxy.NewServer(h), ln, o.ShutdownTimeout) })
	}
	if l := r.Listeners; l.ForwardProxy != "" {
		fo := proxy.ForwardOptions{Pipeline: s.outbound, SkipHosts: l.SkipHosts, OnDone: onDone, Log: o.Log.WithName("forward")}
		if r.MTLS == sidecarconfig.MTLSStrict {
			fo.DialPeer = mtls.Dialer(mtls.ClientConfig(s.identity.x509, authz, mm), 10*time.Second, mm)
		}
		if r.TLSBridge != nil {
			b, err := newBridge(r.TLSBridge, s.reg, o.Log.WithName("tls-bridge"))
			if err != nil {
				return err
			}
			fo.Bridge = b
		}
		fwd, err := proxy.NewForward(fo)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", l.ForwardProxy)
		if err != nil {
			return fmt.Errorf("listener.forward_proxy_addr %s: %w", l.ForwardProxy, err)
		}
		addrs.Forward = ln.Addr().String()
		serve("forward proxy", func() error { return httpserver.Serve(ctx, proxy.NewServer(fwd), ln, o.ShutdownTimeout) })
		if l.TransparentProxy != "" {
			tln, err := net.Listen("tcp", l.TransparentProxy)
			if err != nil {
				return fmt.Errorf("listener.transparent_proxy_addr %s: %w", l.TransparentProxy, err)
			}
			addrs.Transparent = tln.Addr().String()
			self := selfAddrs(addrs)
			serve("transparent proxy", func() error {
				return proxy.ServeTransparent(ctx, tln, proxy.TransparentOptions{Forward: fwd, OriginalDst: origdst.OriginalDst, Self: self})
			})
		}
	}
	serve("reload", func() error { return s.watch(ctx) })
	s.started.Store(true)
	o.Log.Info("serving", "reverse", addrs.Reverse, "forward", addrs.Forward, "transparent", addrs.Transparent, "health", addrs.Health, "stats", addrs.Stats, "mtls", string(r.MTLS))
	if o.Ready != nil {
		o.Ready(addrs)
	}
	return nil
}

// newBridge is the TLS bridge of a tls_bridge block: its CA read from ca_dir (or
// generated there), re-read when cert-manager renews it.
func newBridge(r *sidecarconfig.ResolvedTLSBridge, reg prometheus.Registerer, l logr.Logger) (*tlsbridge.Bridge, error) {
	o := tlsbridge.OptionsFor(r)
	o.Log, o.Registerer = l, reg
	b, err := tlsbridge.New(o)
	if err != nil {
		return nil, fmt.Errorf("tls_bridge: %w", err)
	}
	l.Info("TLS bridge on", "ca", b.CACert().Subject.String(), "ports", r.Ports, "passthrough_hosts", r.PassthroughHosts)
	return b, nil
}

func (s *sidecar) inbound() *pipeline.Pipeline  { return s.current.Load().inbound }
func (s *sidecar) outbound() *pipeline.Pipeline { return s.current.Load().outbound }

// authorizer is who may be the other side of a mutual TLS connection: a member of the
// sidecar's own trust domain, and one of mtls.allowed_peers when it names some.
func (s *sidecar) authorizer(r *sidecarconfig.Resolved) (mtls.Authorizer, error) {
	if r.MTLS == "" {
		return mtls.Authorizer{}, nil
	}
	a := mtls.Authorizer{TrustDomain: s.identity.id.TrustDomain()}
	for i, p := range r.MTLSAllowedPeers {
		id, err := spiffeid.FromString(p)
		if err != nil {
			return a, fmt.Errorf("mtls.allowed_peers[%d]: %w", i, err)
		}
		a.Allowed = append(a.Allowed, id)
	}
	return a, nil
}

// selfAddrs are the sidecar's own listeners, which a redirected connection must not
// reach (it would loop).
func selfAddrs(a Addrs) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range []string{a.Reverse, a.Forward, a.Transparent, a.Health, a.Stats} {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		if host == "" {
			host = "0.0.0.0"
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

// clientIDFile is the agent's client ID file as the configuration names it.
func clientIDFile(r *sidecarconfig.Resolved) string {
	for _, s := range []sidecarconfig.ResolvedStage{r.Inbound, r.Outbound} {
		for _, p := range s.Plugins {
			switch c := p.Config.(type) {
			case *sidecarconfig.OPA:
				if c.AgentIDFile != "" {
					return c.AgentIDFile
				}
			case *sidecarconfig.TokenExchange:
				if c.Identity.ClientIDFile != "" {
					return c.Identity.ClientIDFile
				}
			case *sidecarconfig.JWTValidation:
				if c.AudienceFile != "" {
					return c.AudienceFile
				}
			}
		}
	}
	return sidecarconfig.DefaultClientIDFile
}

func needsJWTSVID(r *sidecarconfig.Resolved) bool {
	for _, p := range r.Outbound.Plugins {
		if c, ok := p.Config.(*sidecarconfig.TokenExchange); ok && c.Identity.Type == "spiffe" {
			return true
		}
	}
	return false
}
