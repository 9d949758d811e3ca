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

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/spire"
)

// IndexTargets registers agentid.TargetIndex with a cache, for the AgentRuntimes of each
// family.
func IndexTargets(ctx context.Context, idx client.FieldIndexer, families []agentv1.Family) error {
	for _, f := range families {
		err := idx.IndexField(ctx, kinds.NewAgentRuntime(f), agentid.TargetIndex, func(o client.Object) []string {
			return []string{agentid.TargetOf(kinds.AgentRuntime(o)).Key()}
		})
		if err != nil {
			return fmt.Errorf("%s: %w", f.Group, err)
		}
	}
	return nil
}

// CacheCluster answers the webhooks from an informer cache with agentid.TargetIndex registered.
type CacheCluster struct {
	reader   client.Reader
	platform *gitopsv1.Platform

	mu        sync.Mutex
	gates     map[string]*gatesState // by family name
	runtimeRV map[string]string
	runtime   map[string]map[string]any
}

// gatesState is the platform with the gates of one version of a family's ConfigMap.
type gatesState struct {
	rv        string
	effective *gitopsv1.Platform
	err       error
}

// NewCluster reads the cluster through a cache, for a defaulted platform whose
// namespace holds the live feature gates.
func NewCluster(r client.Reader, p *gitopsv1.Platform) *CacheCluster {
	return &CacheCluster{reader: r, platform: p, gates: map[string]*gatesState{}, runtimeRV: map[string]string{}, runtime: map[string]map[string]any{}}
}

// AgentRuntimes lists the AgentRuntimes of the family in a namespace that target a
// workload.
func (c *CacheCluster) AgentRuntimes(ctx context.Context, f agentv1.Family, namespace string, w agentid.Workload) ([]agentv1.AgentRuntime, error) {
	list := kinds.NewAgentRuntimeList(f)
	if err := c.reader.List(ctx, list.(client.ObjectList), client.InNamespace(namespace), client.MatchingFields{agentid.TargetIndex: w.Key()}); err != nil {
		return nil, fmt.Errorf("listing %s AgentRuntimes in %s: %w", f.Group, namespace, err)
	}
	return kinds.AgentRuntimes(list), nil
}

func (c *CacheCluster) AgentRuntime(ctx context.Context, f agentv1.Family, namespace string, w agentid.Workload) (*agentv1.AgentRuntime, error) {
	items, err := c.AgentRuntimes(ctx, f, namespace, w)
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

// Platform is the platform with the gates of the family's feature-gates ConfigMap
// (kagenti-feature-gates, rossoctl-feature-gates: the renderer writes the same gates into
// each enabled family's) applied, worked out once per version of the ConfigMap; the
// platform file's gates where it is absent.
func (c *CacheCluster) Platform(ctx context.Context, f agentv1.Family) (*gitopsv1.Platform, error) {
	ns, name := c.platform.Namespace, f.ConfigMapFeatureGates()
	var cm corev1.ConfigMap
	err := c.reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm)
	if apierrors.IsNotFound(err) {
		return c.platform, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.gates[f.Name]
	if st == nil || st.rv != cm.ResourceVersion {
		st = &gatesState{rv: cm.ResourceVersion}
		c.gates[f.Name] = st
		gates, err := parseGates(&cm)
		if err != nil {
			st.err = err
		} else {
			st.effective = WithGates(c.platform, gates)
		}
	}
	return st.effective, st.err
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
