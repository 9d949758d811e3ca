package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
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
// CSIDriver, and of all ConfigMaps only the feature gates of the platform's families in
// the platform namespace and the namespace defaults elsewhere.
func CacheOptions(p *gitopsv1.Platform) cache.Options {
	byName := func(names ...string) cache.Config {
		var sel []fields.Selector
		for _, n := range names {
			sel = append(sel, fields.OneTermEqualSelector("metadata.name", n))
		}
		if len(sel) == 1 {
			return cache.Config{FieldSelector: sel[0]}
		}
		// A field selector ANDs its terms: with two families the feature gates are
		// cached by namespace alone (it holds few ConfigMaps).
		return cache.Config{}
	}
	var gates []string
	for _, f := range p.EnabledFamilies() {
		gates = append(gates, f.ConfigMapFeatureGates())
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{
			p.Namespace:         byName(gates...),
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
	if err := inject.IndexTargets(ctx, mgr.GetFieldIndexer(), p.EnabledFamilies()); err != nil {
		return fmt.Errorf("indexing AgentRuntimes: %w", err)
	}
	l = l.withDefaults()
	cluster := inject.NewCluster(mgr.GetCache(), p)
	srv := mgr.GetWebhookServer()
	serve := func(path string, e endpoint, h admission.Handler, concurrent int) {
		srv.Register(path, &admission.Webhook{Handler: bound(e, h, concurrent, l.Timeout), RecoverPanic: ptr.To(true)})
	}
	serve(PathInject, podInjection, inject.NewMutator(cluster, p.EnabledFamilies()...), l.Pods)
	serve(PathValidateAgentRuntime, agentRuntimeValidation, &validate.AgentRuntimes{Cluster: cluster}, l.AgentRuntimes)
	serve(PathValidateAuthorizationPolicy, policyValidation, &validate.AuthorizationPolicies{PlatformNamespace: p.Namespace, Limits: p.Limits, TrustDomain: p.TrustDomain}, l.AuthorizationPolicies)
	return nil
}
