package bundleserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/security/policy/bundleserver"
)

// Options configure Run.
type Options struct {
	// Addr serves the bundles over mutual TLS, e.g. :8443.
	Addr string
	// ProbeAddr serves /healthz, /readyz and /metrics over plain HTTP (probes carry no
	// SVID); "0" or "" turns it off.
	ProbeAddr string
	// PlatformNamespace is the only namespace global policies count in.
	PlatformNamespace string
	// Families whose AuthorizationPolicies are bundled: the platform's.
	Families    []agentv1.Family
	TrustDomain spiffeid.TrustDomain
	// SVID is the server's own identity and Bundles the trust bundle clients chain to.
	SVID    x509svid.Source
	Bundles x509bundle.Source
	Log     logr.Logger
	// Servers override the limits of both ports; zero fields take
	// httpserver.DefaultOptions (whose write timeout covers a large bundle to a slow
	// sidecar).
	Servers httpserver.Options
}

// Run serves bundles until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.SVID == nil || o.Bundles == nil {
		return errors.New("the bundle server needs an X.509-SVID and a trust bundle (the SPIFFE Workload API, or files)")
	}
	// The cache starts an informer for AuthorizationPolicies only: the one kind asked for.
	c, err := cache.New(cfg, cache.Options{Scheme: apischeme.New()})
	if err != nil {
		return err
	}
	ix := bundleserver.NewIndex(o.PlatformNamespace)
	if err := bundleserver.Watch(ctx, c, ix, o.Families...); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	srv := bundleserver.New(ix, bundleserver.Options{TrustDomain: o.TrustDomain, Registerer: reg, Log: o.Log})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Start(ctx) })
	g.Go(func() error {
		o.Log.Info("serving bundles over mutual TLS", "trustDomain", o.TrustDomain.Name())
		bundles := &httpserver.Server{Name: "bundle", Addr: o.Addr, Handler: srv, TLS: bundleserver.TLSConfig(o.SVID, o.Bundles, o.TrustDomain), Options: o.Servers, Log: o.Log}
		return bundles.Start(ctx)
	})
	if httpserver.Enabled(o.ProbeAddr) {
		g.Go(func() error {
			mux := http.NewServeMux()
			mux.Handle("/healthz", srv)
			mux.Handle("/readyz", srv)
			mux.Handle("/metrics", httpserver.Metrics(reg))
			probes := &httpserver.Server{Name: "probe", Addr: o.ProbeAddr, Handler: mux, Options: o.Servers, Log: o.Log}
			return probes.Start(ctx)
		})
	}
	return g.Wait()
}
