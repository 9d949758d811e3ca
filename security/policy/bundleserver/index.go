package bundleserver

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/policy"
)

// Index holds the cluster's AuthorizationPolicies and a generation per tier: the global
// tier, each namespace tier and each client tier. A bundle remembers the generations it
// was built from (its stamp), so it is current exactly while they are: a global change
// makes every bundle stale, a namespace change that namespace's, a client change that
// one identity's. A status-only update changes nothing.
type Index struct {
	platformNamespace string

	mu        sync.RWMutex
	policies  map[types.NamespacedName]entry
	global    uint64
	namespace map[string]uint64
	client    map[types.NamespacedName]uint64
	synced    bool
}

type entry struct {
	policy *agentv1.AuthorizationPolicy
	scope  agentv1.PolicyScope
	hash   string
}

// stamp is the generations one identity's bundle depends on.
type stamp struct{ global, namespace, client uint64 }

// NewIndex makes an empty index; global policies count only in platformNamespace.
func NewIndex(platformNamespace string) *Index {
	return &Index{
		platformNamespace: platformNamespace,
		policies:          map[types.NamespacedName]entry{},
		namespace:         map[string]uint64{},
		client:            map[types.NamespacedName]uint64{},
	}
}

// Upsert records a policy as the cluster has it now. It must not be modified later.
func (ix *Index) Upsert(p *agentv1.AuthorizationPolicy) {
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	e := entry{policy: p, scope: p.EffectiveScope(), hash: policy.PolicyHash(p)}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old, had := ix.policies[key]
	ix.policies[key] = e
	if had && old.scope == e.scope && old.hash == e.hash {
		return // status or metadata only: every bundle stays current
	}
	if had {
		ix.bump(key, old.scope)
	}
	ix.bump(key, e.scope)
}

// Delete forgets a policy.
func (ix *Index) Delete(key types.NamespacedName) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old, had := ix.policies[key]
	if !had {
		return
	}
	delete(ix.policies, key)
	ix.bump(key, old.scope)
}

// MarkSynced says the index holds the whole cluster; until then bundles are refused
// (a partial view could leave a tier out and allow too much).
func (ix *Index) MarkSynced() {
	ix.mu.Lock()
	ix.synced = true
	ix.mu.Unlock()
}

// Synced reports whether MarkSynced was called.
func (ix *Index) Synced() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.synced
}

func (ix *Index) bump(key types.NamespacedName, scope agentv1.PolicyScope) {
	switch scope {
	case agentv1.ScopeGlobal:
		if key.Namespace == ix.platformNamespace {
			ix.global++
		}
	case agentv1.ScopeNamespace:
		ix.namespace[key.Namespace]++
	default:
		ix.client[key]++
	}
}

// stampOf is the current stamp of an identity.
func (ix *Index) stampOf(w workload) stamp {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.stampLocked(w)
}

func (ix *Index) stampLocked(w workload) stamp {
	return stamp{global: ix.global, namespace: ix.namespace[w.Namespace], client: ix.client[types.NamespacedName{Namespace: w.Namespace, Name: w.ServiceAccount}]}
}

// tiers gives an identity's policies with the stamp they correspond to.
func (ix *Index) tiers(w workload) (policy.Tiers, stamp) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var t policy.Tiers
	for key, e := range ix.policies {
		switch {
		case e.scope == agentv1.ScopeGlobal && key.Namespace == ix.platformNamespace:
			t.Global = append(t.Global, e.policy)
		case e.scope == agentv1.ScopeNamespace && key.Namespace == w.Namespace:
			t.Namespace = append(t.Namespace, e.policy)
		case e.scope == agentv1.ScopeClient && key.Namespace == w.Namespace && key.Name == w.ServiceAccount:
			t.Client = e.policy
		}
	}
	// The same order as policy.Set gives, so the bundle is the one a render previews.
	sortByName(t.Global)
	sortByName(t.Namespace)
	return t, ix.stampLocked(w)
}
