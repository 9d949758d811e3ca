package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/webhook"
	"github.com/trustsync/trustsync/webhook/certs"
)

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
	// keep each server's own (webhook.ServerOptions, httpserver.DefaultOptions).
	Servers httpserver.Options
	// Admission bounds the webhooks; zero fields take DefaultAdmissionLimits.
	Admission webhook.AdmissionLimits
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
			SecretName:                      webhook.SecretName,
			ServiceName:                     webhook.ServiceName,
			MutatingWebhookConfigurations:   []string{webhook.ConfigurationName},
			ValidatingWebhookConfigurations: []string{webhook.ConfigurationName},
		})
		if err != nil {
			return err
		}
		server.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate }}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  webhook.CacheOptions(o.Platform),
		// controller-runtime's metrics and probe servers cannot be given read or write
		// timeouts: ours serve them, and the webhooks.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(server, o.Servers),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := webhook.RegisterWith(ctx, mgr, o.Platform, o.Admission); err != nil {
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
