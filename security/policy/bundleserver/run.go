package bundleserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/internal/httpserver"
)

// Watch feeds ix from the AuthorizationPolicies of the cache c, and marks ix synced
// once every policy listed at start has been recorded. It returns when the handler is
// registered; the cache must be started (before or after).
func Watch(ctx context.Context, c cache.Cache, ix *Index) error {
	inf, err := c.GetInformer(ctx, &agentv1.AuthorizationPolicy{})
	if err != nil {
		return fmt.Errorf("watching AuthorizationPolicies: %w", err)
	}
	upsert := func(obj any) {
		if p, ok := obj.(*agentv1.AuthorizationPolicy); ok {
			ix.Upsert(p)
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*agentv1.AuthorizationPolicy); ok {
				ix.Delete(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
			}
		},
	})
	if err != nil {
		return err
	}
	go func() {
		if toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			ix.MarkSynced()
		}
	}()
	return nil
}

// RunOptions configure Run.
type RunOptions struct {
	// Addr serves the bundles over mutual TLS, e.g. :8443.
	Addr string
	// ProbeAddr serves /healthz, /readyz and /metrics over plain HTTP (probes carry no
	// SVID); "0" or "" turns it off.
	ProbeAddr string
	// PlatformNamespace is the only namespace global policies count in.
	PlatformNamespace string
	TrustDomain       spiffeid.TrustDomain
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
func Run(ctx context.Context, cfg *rest.Config, o RunOptions) error {
	if o.SVID == nil || o.Bundles == nil {
		return errors.New("the bundle server needs an X.509-SVID and a trust bundle (the SPIFFE Workload API, or files)")
	}
	// The cache starts an informer for AuthorizationPolicies only: the one kind asked for.
	c, err := cache.New(cfg, cache.Options{Scheme: apischeme.New()})
	if err != nil {
		return err
	}
	ix := NewIndex(o.PlatformNamespace)
	if err := Watch(ctx, c, ix); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	srv := New(ix, Options{TrustDomain: o.TrustDomain, Registerer: reg, Log: o.Log})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Start(ctx) })
	g.Go(func() error {
		o.Log.Info("serving bundles over mutual TLS", "trustDomain", o.TrustDomain.Name())
		bundles := &httpserver.Server{Name: "bundle", Addr: o.Addr, Handler: srv, TLS: TLSConfig(o.SVID, o.Bundles, o.TrustDomain), Options: o.Servers, Log: o.Log}
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
