package controller

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fluxcd/pkg/runtime/leaderelection"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/engine/agentstatus"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/engine/policystatus"
	"github.com/trustsync/trustsync/engine/syncs"
	"github.com/trustsync/trustsync/fleet/clusters"
	"github.com/trustsync/trustsync/fleet/rollout"
	"github.com/trustsync/trustsync/internal/app/dashboard"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/memrelease"
	"github.com/trustsync/trustsync/preview/pullrequests"
	"github.com/trustsync/trustsync/security/agentcard"
	"github.com/trustsync/trustsync/security/keycloak"
	"github.com/trustsync/trustsync/security/mesh"
	"github.com/trustsync/trustsync/sources/git"
	"github.com/trustsync/trustsync/sources/gitsource"
	"github.com/trustsync/trustsync/sources/receiver"
)

// Options configure the controller.
type Options struct {
	Platform *gitopsv1.Platform
	// MetricsAddr, HealthAddr and ReceiverAddr are listen addresses; "0" turns one off.
	MetricsAddr, HealthAddr, ReceiverAddr string
	// PprofAddr serves Go's runtime profiles (package httpserver's Pprof); "" or "0",
	// the default, turns it off. Unauthenticated: bind it to loopback.
	PprofAddr string
	// DashboardAddr serves the sync dashboard (package dashboard) on every replica; ""
	// or "0", the default, turns it off.
	DashboardAddr string
	// DashboardURL is where users reach the dashboard (trustsync dashboard or
	// DashboardAddr); commit statuses without a targetURL link to the Sync's page there.
	DashboardURL string
	// LeaderElection makes one replica of several do the work.
	LeaderElection bool
	// WatchLabelSelector makes this controller a shard, in Flux's convention: it
	// reconciles only the GitSources and Syncs the selector selects (by
	// gitopsv1.LabelShardKey, e.g. "sharding.fluxcd.io/key=shard1"), caches only the
	// objects they applied, and elects its leader on a Lease of its own. The main set
	// runs "!sharding.fluxcd.io/key"; it alone also runs the run-time controllers, whose
	// decisions span Syncs (policy tiers, the mesh CA). Empty: everything.
	WatchLabelSelector string
	// CacheDir holds the Git clones and checked-out revisions.
	CacheDir string
	// Concurrency of each Sync's API requests.
	Concurrency int
	// MaxConcurrentReconciles of Syncs.
	MaxConcurrentReconciles int
	// WorkloadAPI is the SPIFFE Workload API socket of the controller's own X.509-SVID;
	// with it, AgentCards are fetched over mTLS from agent-tls ports, else over HTTP.
	WorkloadAPI string
	// Servers override the limits of the metrics, health and receiver servers; zero
	// fields keep each server's own (httpserver.DefaultOptions, receiver.ServerOptions).
	Servers httpserver.Options
	// Receiver bounds the push receiver; zero fields take receiver.DefaultOptions.
	Receiver receiver.Options
}

// Run runs the controller until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Platform == nil {
		o.Platform = gitopsv1.DefaultPlatform()
	}
	if o.CacheDir == "" {
		return errors.New("a cache directory for Git is required")
	}
	if o.DashboardURL != "" {
		if err := DashboardURL(o.DashboardURL); err != nil {
			return err
		}
	}
	shard, err := labels.Parse(o.WatchLabelSelector)
	if err != nil {
		return fmt.Errorf("--watch-label-selector %q: %w", o.WatchLabelSelector, err)
	}
	shardReqs, _ := shard.Requirements()
	// The main set is the one that selects what carries no shard label.
	main := shard.Matches(labels.Set{})
	leaderID := "trustsync-controller"
	if o.WatchLabelSelector != "" {
		leaderID = leaderelection.GenerateID(leaderID, o.WatchLabelSelector)
	}
	scheme := apischeme.New()
	recorder := metrics.NewRecorder(ctrlmetrics.Registry)
	requests := metrics.NewRequestCounter()
	requests.OnRequest = recorder.Request

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		// controller-runtime's metrics and probe servers cannot be given read or write
		// timeouts: ours serve them (httpserver.ProbeServers).
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        leaderID,
		LeaderElectionNamespace: o.Platform.Namespace,
		// Nothing reads managedFields from this cache (drift uses package objcache's), and
		// they are most of an applied object's size.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{
			&gitopsv1.Sync{}: {Label: shard}, &gitopsv1.GitSource{}: {Label: shard},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	objects, err := objcache.New(cfg, objcache.Options{Scheme: scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName, Selector: shardReqs})
	if err != nil {
		return err
	}
	if err := mgr.Add(objects); err != nil {
		return err
	}
	var platformObjects cache.Cache
	if o.WatchLabelSelector != "" {
		// Every shard applies the platform objects, alike; they carry no shard label.
		platformOwner, _ := labels.NewRequirement(gitopsv1.LabelSyncName, selection.Equals, []string{syncs.PlatformOwner})
		if platformObjects, err = objcache.New(cfg, objcache.Options{Scheme: scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName, Selector: labels.Requirements{*platformOwner}}); err != nil {
			return err
		}
		if err := mgr.Add(platformObjects); err != nil {
			return err
		}
	}

	store := gitsource.NewStore()
	events := mgr.GetEventRecorder("trustsync")
	sources := &gitsource.Reconciler{
		Client:  mgr.GetClient(),
		Secrets: mgr.GetAPIReader(),
		Fetcher: &git.Fetcher{CacheDir: o.CacheDir},
		Store:   store,
		Events:  events,
	}
	if err := sources.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	// The commit-status tokens: read anew each time, the last ones kept for an API
	// server that does not answer.
	statusSecrets := newLastKnownSecrets(mgr.GetAPIReader())
	// The fleet's member clusters, each with an object cache like this cluster's. Not
	// narrowed to the shard: the platform objects there carry no shard label, and one
	// cache per member is simpler than two.
	registry := &clusters.Registry{
		Clusters: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Scheme: scheme, PlatformNamespace: o.Platform.Namespace,
		Cache: objcache.Options{FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName},
	}
	if err := mgr.Add(registry); err != nil {
		return err
	}
	syncs := &syncs.Reconciler{
		Client:  mgr.GetClient(),
		Objects: objects,
		// nil without shards: the objects cache holds the platform objects too.
		PlatformObjects: platformObjects,
		Config:          cfg,
		Mapper:          mgr.GetRESTMapper(),
		Artifacts:       artifacts{store},
		Reporter:        commitStatuses{secrets: statusSecrets, dashboard: o.DashboardURL},
		Events:          events,
		Metrics:         recorder,
		Requests:        requests,
		Platform:        o.Platform,
		Members:         registry,
		Rollout:         rollout.Planner{},
		APIReader:       mgr.GetAPIReader(),
		Options:         syncs.Options{Concurrency: o.Concurrency, MaxConcurrentReconciles: o.MaxConcurrentReconciles},
	}
	if err := syncs.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	store.Subscribe(syncs.SourceUpdated)

	prs := &pullrequests.Reconciler{
		Client:    mgr.GetClient(),
		Hosts:     previewHosts{secrets: mgr.GetAPIReader(), dashboard: o.DashboardURL},
		Revisions: previewRevisions{fetcher: &git.Fetcher{CacheDir: filepath.Join(o.CacheDir, "previews")}, secrets: mgr.GetAPIReader()},
		Platform:  o.Platform,
	}
	if err := prs.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("previews: %w", err)
	}

	if main {
		if err := setupRuntimeControllers(ctx, mgr, o, events); err != nil {
			return err
		}
		members := &clusters.Reconciler{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), PlatformNamespace: o.Platform.Namespace}
		if err := members.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("fleet clusters: %w", err)
		}
	}

	if httpserver.Enabled(o.ReceiverAddr) {
		ro := o.Receiver
		ro.Registerer, ro.Log = ctrlmetrics.Registry, log.FromContext(ctx).WithName("receiver")
		h := receiver.NewHandler(receivers{sources: mgr.GetClient(), secrets: newSecretCache(mgr.GetAPIReader())}, sources.Trigger, ro)
		// On the leader only: the controllers it triggers run there.
		if err := mgr.Add(&httpserver.Server{Name: "receiver", Addr: o.ReceiverAddr, Handler: h, Options: o.Servers.Or(receiver.ServerOptions()),
			LeaderOnly: true, Log: log.FromContext(ctx)}); err != nil {
			return err
		}
	}
	probes := &httpserver.Probes{}
	probes.AddHealthz("ping", httpserver.Check(healthz.Ping))
	probes.AddReadyz("ping", httpserver.Check(healthz.Ping))
	servers := httpserver.ProbeServers(o.MetricsAddr, ctrlmetrics.Registry, o.HealthAddr, probes, o.Servers, log.FromContext(ctx))
	if httpserver.Enabled(o.PprofAddr) {
		servers = append(servers, httpserver.Pprof(o.PprofAddr, o.Servers, log.FromContext(ctx)))
	}
	if httpserver.Enabled(o.DashboardAddr) {
		d, err := dashboard.New(cfg, dashboard.Options{Addr: o.DashboardAddr, Platform: o.Platform, Servers: o.Servers, Log: log.FromContext(ctx).WithName("dashboard")})
		if err != nil {
			return err
		}
		if err := d.AddTo(mgr); err != nil {
			return err
		}
	}
	for _, srv := range servers {
		if err := mgr.Add(srv); err != nil {
			return err
		}
	}
	// A render's garbage goes back to the OS once the controller is quiet again.
	go memrelease.Run(ctx, memrelease.Options{})
	log.FromContext(ctx).Info("starting trustsync controller", "platformNamespace", o.Platform.Namespace, "trustDomain", o.Platform.TrustDomain, "shard", o.WatchLabelSelector, "runtimeControllers", main)
	return mgr.Start(ctx)
}

// setupRuntimeControllers adds the controllers of what Git cannot know: policy and agent
// status, the agents' Keycloak clients and the mesh's CA.
func setupRuntimeControllers(ctx context.Context, mgr ctrl.Manager, o Options, events events.EventRecorder) error {
	p := o.Platform
	// Keycloak's registrar and the card fetcher are shared: one Keycloak, one SVID.
	// Also with clientRegistration off: then it only releases what it registered before
	// (the clients, their Secrets, its finalizer), so no AgentRuntime is left Terminating.
	registrar, err := keycloak.NewRegistrar(keycloak.OptionsFromPlatform(p), mgr.GetAPIReader())
	if err != nil {
		return fmt.Errorf("keycloak: %w", err)
	}
	fetcher, portNames, err := cardFetcher(ctx, o.WorkloadAPI, p.TrustDomain)
	if err != nil {
		return err
	}
	// One instance of each controller per family the platform reads, watching that
	// family's group: the same code, the family as data.
	for _, f := range p.EnabledFamilies() {
		policies := &policystatus.Reconciler{Client: mgr.GetClient(), PlatformNamespace: p.Namespace, Limits: p.Limits, Family: f, Families: p.EnabledFamilies()}
		if err := policies.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("policy status (%s): %w", f.Name, err)
		}
		agents := &agentstatus.Reconciler{
			Client:    mgr.GetClient(),
			Platform:  agentstatus.StaticPlatform{P: p},
			Events:    mgr.GetEventRecorder("trustsync-agentstatus"),
			APIReader: mgr.GetAPIReader(), // Sandbox targets, read live
			Family:    f,
		}
		if err := agents.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("agent status (%s): %w", f.Name, err)
		}
		kc := &keycloak.Reconciler{
			Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Registrar: registrar,
			Platform: p, Events: mgr.GetEventRecorder("trustsync-keycloak"), Family: f,
		}
		if err := kc.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("keycloak (%s): %w", f.Name, err)
		}
		cards := &agentcard.Reconciler{
			Client:  mgr.GetClient(),
			Fetcher: fetcher,
			Bundles: &agentcard.ConfigMapTrustBundle{Reader: mgr.GetAPIReader(), Namespace: p.Spire.TrustBundleNamespace, TrustDomain: p.TrustDomain},
			Options: agentcard.Options{TrustDomain: p.TrustDomain, PortNames: portNames},
			Family:  f,
		}
		if err := cards.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("agent cards (%s): %w", f.Name, err)
		}
	}
	if p.Mesh.SharedTrust {
		meshTrust := &mesh.Reconciler{Events: events, Options: mesh.DefaultOptions()}
		if err := meshTrust.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("mesh trust: %w", err)
		}
	}
	return nil
}

// cardFetcher fetches AgentCards over mTLS with the controller's own SVID when it has
// one (agent-tls ports first), else over plain HTTP from http ports.
func cardFetcher(ctx context.Context, workloadAPI, trustDomain string) (*agentcard.HTTPFetcher, []string, error) {
	if workloadAPI == "" {
		return &agentcard.HTTPFetcher{}, []string{"http"}, nil
	}
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, nil, fmt.Errorf("platform trustDomain: %w", err)
	}
	start, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	src, err := workloadapi.NewX509Source(start, workloadapi.WithClientOptions(workloadapi.WithAddr(workloadAPI)))
	if err != nil {
		return nil, nil, fmt.Errorf("the controller's X.509-SVID from the Workload API %s: %w", workloadAPI, err)
	}
	go func() {
		<-ctx.Done()
		_ = src.Close()
	}()
	client := agentcard.NewHTTPClient(tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeMemberOf(td)))
	return &agentcard.HTTPFetcher{Client: client}, nil, nil
}
