package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	"github.com/trustsync/trustsync/engine/previews"
	"github.com/trustsync/trustsync/engine/reconciler"
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
	// LeaderElection makes one replica of several do the work.
	LeaderElection bool
	// CacheDir holds the Git clones and checked-out revisions.
	CacheDir string
	// Concurrency of each Sync's API requests.
	Concurrency int
	// MaxConcurrentReconciles of Syncs.
	MaxConcurrentReconciles int
	// WorkloadAPI is the SPIFFE Workload API socket of the controller's own X.509-SVID;
	// with it, AgentCards are fetched over mTLS from agent-tls ports, else over HTTP.
	WorkloadAPI string
}

// Run runs the controller until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Platform == nil {
		o.Platform = gitopsv1.DefaultPlatform()
	}
	if o.CacheDir == "" {
		return errors.New("a cache directory for Git is required")
	}
	scheme := apischeme.New()
	recorder := metrics.NewRecorder(ctrlmetrics.Registry)
	requests := metrics.NewRequestCounter()
	requests.OnRequest = recorder.Request

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.HealthAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "trustsync-controller",
		LeaderElectionNamespace: o.Platform.Namespace,
		// Nothing reads managedFields from this cache (drift uses package objcache's), and
		// they are most of an applied object's size.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	objects, err := objcache.New(cfg, objcache.Options{Scheme: scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName})
	if err != nil {
		return err
	}
	if err := mgr.Add(objects); err != nil {
		return err
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
	if err := sources.SetupWithManager(mgr); err != nil {
		return err
	}
	syncs := &reconciler.SyncReconciler{
		Client:    mgr.GetClient(),
		Objects:   objects,
		Config:    cfg,
		Mapper:    mgr.GetRESTMapper(),
		Artifacts: artifacts{store},
		Reporter:  commitStatuses{secrets: mgr.GetAPIReader()},
		Events:    events,
		Metrics:   recorder,
		Requests:  requests,
		Platform:  o.Platform,
		Options:   reconciler.Options{Concurrency: o.Concurrency, MaxConcurrentReconciles: o.MaxConcurrentReconciles},
	}
	if err := syncs.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	store.Subscribe(syncs.SourceUpdated)

	prs := &previews.Reconciler{
		Client:    mgr.GetClient(),
		Hosts:     previewHosts{secrets: mgr.GetAPIReader()},
		Revisions: previewRevisions{fetcher: &git.Fetcher{CacheDir: filepath.Join(o.CacheDir, "previews")}, secrets: mgr.GetAPIReader()},
		Platform:  o.Platform,
	}
	if err := prs.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("previews: %w", err)
	}

	if err := setupRuntimeControllers(ctx, mgr, o, events); err != nil {
		return err
	}

	if o.ReceiverAddr != "" && o.ReceiverAddr != "0" {
		h := &receiver.Handler{Lookup: receivers{client: mgr.GetClient(), secrets: mgr.GetAPIReader()}, Trigger: sources.Trigger}
		if err := mgr.Add(&httpServer{addr: o.ReceiverAddr, handler: h}); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	log.FromContext(ctx).Info("starting trustsync controller", "platformNamespace", o.Platform.Namespace, "trustDomain", o.Platform.TrustDomain)
	return mgr.Start(ctx)
}

// setupRuntimeControllers adds the controllers of what Git cannot know: policy and agent
// status, the agents' Keycloak clients and the mesh's CA.
func setupRuntimeControllers(ctx context.Context, mgr ctrl.Manager, o Options, events reconciler.EventRecorder) error {
	p := o.Platform
	policies := &policystatus.Reconciler{Client: mgr.GetClient(), PlatformNamespace: p.Namespace, Limits: p.Limits}
	if err := policies.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("policy status: %w", err)
	}
	agents := &agentstatus.Reconciler{
		Client:    mgr.GetClient(),
		Platform:  agentstatus.StaticPlatform{P: p},
		Events:    mgr.GetEventRecorder("trustsync-agentstatus"),
		APIReader: mgr.GetAPIReader(), // Sandbox targets, read live
	}
	if err := agents.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("agent status: %w", err)
	}
	// Also with clientRegistration off: then it only releases what it registered before
	// (the clients, their Secrets, its finalizer), so no AgentRuntime is left Terminating.
	registrar, err := keycloak.NewRegistrar(keycloak.OptionsFromPlatform(p), mgr.GetAPIReader())
	if err != nil {
		return fmt.Errorf("keycloak: %w", err)
	}
	kc := &keycloak.Reconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Registrar: registrar,
		Platform: p, Events: mgr.GetEventRecorder("trustsync-keycloak"),
	}
	if err := kc.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("keycloak: %w", err)
	}
	fetcher, portNames, err := cardFetcher(ctx, o.WorkloadAPI, p.TrustDomain)
	if err != nil {
		return err
	}
	cards := &agentcard.Reconciler{
		Client:  mgr.GetClient(),
		Fetcher: fetcher,
		Bundles: &agentcard.ConfigMapTrustBundle{Reader: mgr.GetAPIReader(), Namespace: p.Spire.TrustBundleNamespace, TrustDomain: p.TrustDomain},
		Options: agentcard.ReconcilerOptions{TrustDomain: p.TrustDomain, PortNames: portNames},
	}
	if err := cards.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("agent cards: %w", err)
	}
	if p.Mesh.SharedTrust {
		meshTrust := &mesh.CACertsReconciler{Events: events, Options: mesh.DefaultOptions()}
		if err := meshTrust.SetupWithManager(mgr); err != nil {
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
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: agentcard.NoRedirects,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeMemberOf(td))}}
	return &agentcard.HTTPFetcher{Client: client}, nil, nil
}

// httpServer runs an HTTP server as a manager runnable, on the leader only: the
// controllers it triggers run there.
type httpServer struct {
	addr    string
	handler http.Handler
}

func (s *httpServer) NeedLeaderElection() bool { return true }

func (s *httpServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.FromContext(ctx).Info("receiver listening", "address", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
