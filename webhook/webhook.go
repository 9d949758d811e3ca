package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/webhook/certs"
	"github.com/trustsync/trustsync/webhook/inject"
	"github.com/trustsync/trustsync/webhook/validate"
)

// Paths and names the configurations in config/webhook use. The paths are Kagenti's, so
// its charts' configurations work against trustsync.
const (
	PathInject                      = "/mutate-workloads-authbridge"
	PathValidateAgentRuntime        = "/validate-agent-kagenti-dev-v1alpha1-agentruntime"
	PathValidateAuthorizationPolicy = "/validate-agent-kagenti-dev-v1alpha1-authorizationpolicy"
	// ConfigurationName names both the Mutating- and the ValidatingWebhookConfiguration.
	ConfigurationName = "trustsync-webhook"
	ServiceName       = "trustsync-webhook"
	SecretName        = "trustsync-webhook-tls"
)

// CacheOptions limit the cache to what the webhooks read: AgentRuntimes, the SPIFFE
// CSIDriver, and of all ConfigMaps only the feature gates in the platform namespace and
// the namespace defaults elsewhere.
func CacheOptions(platformNamespace string) cache.Options {
	byName := func(name string) cache.Config {
		return cache.Config{FieldSelector: fields.OneTermEqualSelector("metadata.name", name)}
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{
			platformNamespace:   byName(agentv1.ConfigMapFeatureGates),
			cache.AllNamespaces: byName(agentv1.ConfigMapAuthBridgeRuntimeConfig),
		}},
	}}
}

// Register indexes the cache and serves the three webhooks on the manager's webhook
// server, with DefaultAdmissionLimits.
func Register(ctx context.Context, mgr manager.Manager, p *gitopsv1.Platform) error {
	return RegisterWith(ctx, mgr, p, AdmissionLimits{})
}

// RegisterWith is Register with limits. Each webhook refuses requests of another kind,
// resource or operation than its configuration sends, and runs a bounded number at once.
func RegisterWith(ctx context.Context, mgr manager.Manager, p *gitopsv1.Platform, l AdmissionLimits) error {
	if err := inject.IndexTargets(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("indexing AgentRuntimes: %w", err)
	}
	l = l.withDefaults()
	cluster := inject.NewCluster(mgr.GetCache(), p)
	srv := mgr.GetWebhookServer()
	serve := func(path string, e endpoint, h admission.Handler, concurrent int) {
		srv.Register(path, &admission.Webhook{Handler: bound(e, h, concurrent, l.Timeout), RecoverPanic: ptr.To(true)})
	}
	serve(PathInject, podInjection, inject.NewMutator(cluster), l.Pods)
	serve(PathValidateAgentRuntime, agentRuntimeValidation, &validate.AgentRuntimes{Cluster: cluster}, l.AgentRuntimes)
	serve(PathValidateAuthorizationPolicy, policyValidation, &validate.AuthorizationPolicies{PlatformNamespace: p.Namespace, Limits: p.Limits, TrustDomain: p.TrustDomain}, l.AuthorizationPolicies)
	return nil
}

// Options configure the webhook server.
type Options struct {
	Platform *gitopsv1.Platform
	// Host and Port the webhooks are served on; an empty host means all interfaces.
	Host string
	Port int
	// CertDir, when set, holds tls.crt and tls.key issued by cert-manager, whose CA
	// injector fills the configurations' caBundle. Empty: trustsync runs its own CA.
	CertDir string
	// MetricsAddr and HealthAddr are listen addresses; "" or "0" turns one off.
	MetricsAddr, HealthAddr string
	// Servers override the limits of the webhook, metrics and probe servers; zero fields
	// keep each server's own (ServerOptions, httpserver.DefaultOptions).
	Servers httpserver.Options
	// Admission bounds the webhooks; zero fields take DefaultAdmissionLimits.
	Admission AdmissionLimits
}

// Run serves the webhooks until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Platform == nil {
		o.Platform = gitopsv1.DefaultPlatform()
	}
	if o.Port == 0 {
		o.Port = 9443
	}
	scheme := apischeme.New()
	server := ctrlwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir}
	var rotator *certs.Rotator
	if o.CertDir == "" {
		direct, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		rotator, err = certs.New(direct, certs.Options{
			Namespace:                       o.Platform.Namespace,
			SecretName:                      SecretName,
			ServiceName:                     ServiceName,
			MutatingWebhookConfigurations:   []string{ConfigurationName},
			ValidatingWebhookConfigurations: []string{ConfigurationName},
		})
		if err != nil {
			return err
		}
		server.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate }}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  CacheOptions(o.Platform.Namespace),
		// controller-runtime's metrics and probe servers cannot be given read or write
		// timeouts: ours serve them, and the webhooks.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          newServer(server, o.Servers),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := RegisterWith(ctx, mgr, o.Platform, o.Admission); err != nil {
		return err
	}
	ready := mgr.GetWebhookServer().StartedChecker()
	if rotator != nil {
		if err := mgr.Add(rotator); err != nil {
			return err
		}
		ready = chain(rotator.ReadyCheck, ready)
	}
	probes := &httpserver.Probes{}
	probes.AddHealthz("ping", httpserver.Check(healthz.Ping))
	probes.AddReadyz("webhook", httpserver.Check(ready))
	for _, srv := range httpserver.ProbeServers(o.MetricsAddr, ctrlmetrics.Registry, o.HealthAddr, probes, o.Servers, log.FromContext(ctx)) {
		if err := mgr.Add(srv); err != nil {
			return err
		}
	}
	log.FromContext(ctx).Info("starting trustsync webhook", "port", o.Port, "selfManagedTLS", rotator != nil)
	return mgr.Start(ctx)
}

func chain(checks ...healthz.Checker) healthz.Checker {
	return func(r *http.Request) error {
		for _, c := range checks {
			if err := c(r); err != nil {
				return err
			}
		}
		return nil
	}
}
