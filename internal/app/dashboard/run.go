package dashboard

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/dashboard"
	"github.com/trustsync/trustsync/dashboard/live"
	"github.com/trustsync/trustsync/dashboard/signin"
	"github.com/trustsync/trustsync/internal/httpserver"
)

// Options configure the dashboard process.
type Options struct {
	// Addr is the listen address, e.g. 127.0.0.1:9080.
	Addr     string
	Platform *gitopsv1.Platform
	// Servers override the server's limits; zero fields keep httpserver.DefaultOptions.
	Servers httpserver.Options
	Live    live.Options
	// MetricsURL is a Prometheus-compatible query API scraping the sidecars, for the
	// agents' decision counts; empty: none.
	MetricsURL string
	// SignIn signs users in with OpenID Connect when its Issuer is set.
	SignIn signin.Options
	// Actions lets signed-in users reconcile, suspend and resume Syncs, each action
	// done as that user by impersonation; it needs SignIn.
	Actions bool
	Log     logr.Logger
}

// Dashboard is the dashboard's parts, each a manager.Runnable.
type Dashboard struct {
	Cache  crcache.Cache
	Server *dashboard.Server
	HTTP   *httpserver.Server
}

// New makes the dashboard of the cluster cfg reaches: its own cache (see
// dashboard.CacheOptions), an uncached client for Events, the server and its listener.
func New(cfg *rest.Config, o Options) (*Dashboard, error) {
	if !httpserver.Enabled(o.Addr) {
		return nil, errors.New("the dashboard needs a listen address")
	}
	scheme := apischeme.New()
	platform := o.Platform
	if platform == nil {
		platform = gitopsv1.DefaultPlatform()
	}
	c, err := crcache.New(cfg, dashboard.CacheOptions(scheme, platform.EnabledFamilies()))
	if err != nil {
		return nil, fmt.Errorf("the dashboard's cache: %w", err)
	}
	events, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	do := dashboard.Options{Platform: o.Platform, Events: events, Live: o.Live, MetricsURL: o.MetricsURL, Log: o.Log}
	if o.SignIn.Issuer != "" {
		o.SignIn.Log = o.Log.WithName("signin")
		if do.SignIn, err = signin.New(o.SignIn); err != nil {
			return nil, err
		}
	}
	if o.Actions {
		if do.SignIn == nil {
			return nil, errors.New("dashboard actions need sign-in: set the OIDC issuer, client ID and secret")
		}
		if do.Actor, err = actor(cfg, scheme); err != nil {
			return nil, err
		}
	}
	srv, err := dashboard.New(c, do)
	if err != nil {
		return nil, err
	}
	return &Dashboard{Cache: c, Server: srv, HTTP: &httpserver.Server{Name: "dashboard", Addr: o.Addr, Handler: srv, Options: o.Servers, Log: o.Log}}, nil
}

// actor is a client whose every request impersonates the signed-in user of its
// context. Its REST mapper discovers with the dashboard's own identity: discovery is
// not an action, and an impersonating client refuses requests without a user.
func actor(cfg *rest.Config, scheme *runtime.Scheme) (client.Client, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	icfg, err := signin.Impersonating(cfg)
	if err != nil {
		return nil, err
	}
	return client.New(icfg, client.Options{Scheme: scheme, Mapper: mapper})
}

// AddTo runs the dashboard in a manager (the controller's), on every replica.
func (d *Dashboard) AddTo(mgr manager.Manager) error {
	for _, r := range []manager.Runnable{d.Cache, d.Server, d.HTTP} {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the dashboard until ctx is done.
func (d *Dashboard) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Cache.Start(ctx) })
	if !d.Cache.WaitForCacheSync(ctx) {
		return errors.Join(errors.New("the dashboard's cache did not sync"), g.Wait())
	}
	g.Go(func() error { return d.Server.Start(ctx) })
	g.Go(func() error { return d.HTTP.Start(ctx) })
	return g.Wait()
}
