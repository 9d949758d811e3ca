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
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
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
// server.
func Register(ctx context.Context, mgr manager.Manager, p *gitopsv1.Platform) error {
	if err := inject.IndexTargets(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("indexing AgentRuntimes: %w", err)
	}
	cluster := inject.NewCluster(mgr.GetCache(), p)
	srv := mgr.GetWebhookServer()
	srv.Register(PathInject, &admission.Webhook{Handler: inject.NewMutator(cluster), RecoverPanic: ptr.To(true)})
	srv.Register(PathValidateAgentRuntime, &admission.Webhook{Handler: &validate.AgentRuntimes{Cluster: cluster}, RecoverPanic: ptr.To(true)})
	srv.Register(PathValidateAuthorizationPolicy, &admission.Webhook{Handler: &validate.AuthorizationPolicies{PlatformNamespace: p.Namespace, Limits: p.Limits, TrustDomain: p.TrustDomain}, RecoverPanic: ptr.To(true)})
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
	// MetricsAddr and HealthAddr are listen addresses; "0" turns one off.
	MetricsAddr, HealthAddr string
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
		Scheme:                 scheme,
		Cache:                  CacheOptions(o.Platform.Namespace),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.HealthAddr,
		WebhookServer:          ctrlwebhook.NewServer(server),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := Register(ctx, mgr, o.Platform); err != nil {
		return err
	}
	ready := mgr.GetWebhookServer().StartedChecker()
	if rotator != nil {
		if err := mgr.Add(rotator); err != nil {
			return err
		}
		ready = chain(rotator.ReadyCheck, ready)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", ready); err != nil {
		return err
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
