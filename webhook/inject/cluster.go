package inject

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/spire"
)

// IndexTargets registers agentid.TargetIndex with a cache.
func IndexTargets(ctx context.Context, idx client.FieldIndexer) error {
	return idx.IndexField(ctx, &agentv1.AgentRuntime{}, agentid.TargetIndex, func(o client.Object) []string {
		return []string{agentid.TargetOf(o.(*agentv1.AgentRuntime)).Key()}
	})
}

// CacheCluster answers the webhooks from an informer cache with agentid.TargetIndex registered.
type CacheCluster struct {
	reader   client.Reader
	platform *gitopsv1.Platform

	mu           sync.Mutex
	gatesRV      string
	effective    *gitopsv1.Platform // platform with the gates of ConfigMap version gatesRV
	effectiveErr error
	runtimeRV    map[string]string
	runtime      map[string]map[string]any
}

// NewCluster reads the cluster through a cache, for a defaulted platform whose
// namespace holds the live feature gates.
func NewCluster(r client.Reader, p *gitopsv1.Platform) *CacheCluster {
	return &CacheCluster{reader: r, platform: p, runtimeRV: map[string]string{}, runtime: map[string]map[string]any{}}
}

// AgentRuntimes lists the AgentRuntimes of a namespace that target a workload.
func (c *CacheCluster) AgentRuntimes(ctx context.Context, namespace string, w agentid.Workload) ([]agentv1.AgentRuntime, error) {
	var list agentv1.AgentRuntimeList
	if err := c.reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{agentid.TargetIndex: w.Key()}); err != nil {
		return nil, fmt.Errorf("listing AgentRuntimes in %s: %w", namespace, err)
	}
	return list.Items, nil
}

func (c *CacheCluster) AgentRuntime(ctx context.Context, namespace string, w agentid.Workload) (*agentv1.AgentRuntime, error) {
	items, err := c.AgentRuntimes(ctx, namespace, w)
	switch {
	case err != nil:
		return nil, err
	case len(items) == 0:
		return nil, nil
	case len(items) == 1:
		return &items[0], nil
	}
	names := make([]string, len(items))
	for i := range items {
		names[i] = items[i].Name
	}
	return nil, deny("AgentRuntimes %s in namespace %s all target %s; keep one", strings.Join(names, ", "), namespace, w)
}

func (c *CacheCluster) NamespaceRuntime(ctx context.Context, namespace string) (map[string]any, error) {
	var cm corev1.ConfigMap
	err := c.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: agentv1.ConfigMapAuthBridgeRuntimeConfig}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, agentv1.ConfigMapAuthBridgeRuntimeConfig, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runtimeRV[namespace] == cm.ResourceVersion {
		return c.runtime[namespace], nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[agentv1.KeyConfigYAML]), &doc); err != nil {
		return nil, deny("ConfigMap %s/%s data.%s: %v", namespace, cm.Name, agentv1.KeyConfigYAML, err)
	}
	c.runtimeRV[namespace], c.runtime[namespace] = cm.ResourceVersion, doc
	return doc, nil
}

// gatesDoc is feature-gates.yaml; keys trustsync does not use are accepted.
type gatesDoc struct {
	GlobalEnabled      *bool `json:"globalEnabled"`
	EnvoyProxy         *bool `json:"envoyProxy"`
	InjectTools        *bool `json:"injectTools"`
	ClientRegistration *bool `json:"clientRegistration"`
}

// Platform is the platform with the gates of the kagenti-feature-gates ConfigMap applied,
// worked out once per version of the ConfigMap; the platform file's gates where it is
// absent.
func (c *CacheCluster) Platform(ctx context.Context) (*gitopsv1.Platform, error) {
	ns := c.platform.Namespace
	var cm corev1.ConfigMap
	err := c.reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: agentv1.ConfigMapFeatureGates}, &cm)
	if apierrors.IsNotFound(err) {
		return c.platform, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, agentv1.ConfigMapFeatureGates, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gatesRV != cm.ResourceVersion {
		c.gatesRV = cm.ResourceVersion
		c.effective, c.effectiveErr = nil, nil
		gates, err := parseGates(&cm)
		if err != nil {
			c.effectiveErr = err
		} else {
			c.effective = WithGates(c.platform, gates)
		}
	}
	return c.effective, c.effectiveErr
}

// WithGates is a copy of the platform with other feature gates.
func WithGates(p *gitopsv1.Platform, gates *gitopsv1.FeatureGates) *gitopsv1.Platform {
	out := p.DeepCopy()
	out.FeatureGates = *gates.DeepCopy()
	return out
}

func parseGates(cm *corev1.ConfigMap) (*gitopsv1.FeatureGates, error) {
	var doc gatesDoc
	if err := yaml.Unmarshal([]byte(cm.Data[agentv1.KeyFeatureGatesYAML]), &doc); err != nil {
		// Fail closed: unreadable gates might hide the kill switch.
		return nil, deny("ConfigMap %s/%s data.%s: %v", cm.Namespace, cm.Name, agentv1.KeyFeatureGatesYAML, err)
	}
	g := &gitopsv1.FeatureGates{GlobalEnabled: doc.GlobalEnabled, EnvoyProxy: doc.EnvoyProxy, ClientRegistration: doc.ClientRegistration}
	if doc.InjectTools != nil {
		g.InjectTools = *doc.InjectTools
	}
	return g, nil
}

func (c *CacheCluster) SPIREPresent(ctx context.Context) (bool, error) {
	return spire.Present(ctx, c.reader)
}
