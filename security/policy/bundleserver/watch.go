package bundleserver

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/trustsync/trustsync/api/agent/kinds"
	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Watch feeds ix from the AuthorizationPolicies of the cache c in each of the families'
// groups (Kagenti's alone when none are given): a Rossoctl policy is bundled as a Kagenti
// one. It marks ix synced once every policy listed at start, of every family, has been
// recorded. It returns when the handlers are registered; the cache must be started
// (before or after).
func Watch(ctx context.Context, c cache.Cache, ix *Index, families ...agentv1.Family) error {
	if len(families) == 0 {
		families = []agentv1.Family{agentv1.Kagenti}
	}
	var synced []toolscache.InformerSynced
	for _, f := range families {
		inf, err := c.GetInformer(ctx, kinds.NewAuthorizationPolicy(f))
		if err != nil {
			return fmt.Errorf("watching %s AuthorizationPolicies: %w", f.Group, err)
		}
		policyOf := func(obj any) (*agentv1.AuthorizationPolicy, bool) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			o, ok := obj.(runtime.Object)
			if !ok || kinds.FamilyOfObject(o) != f {
				return nil, false
			}
			switch o.(type) {
			case *agentv1.AuthorizationPolicy, *rossoctlv1.AuthorizationPolicy:
				return kinds.AuthorizationPolicy(o), true
			}
			return nil, false
		}
		upsert := func(obj any) {
			if p, ok := policyOf(obj); ok {
				ix.Upsert(p)
			}
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    upsert,
			UpdateFunc: func(_, obj any) { upsert(obj) },
			DeleteFunc: func(obj any) {
				if p, ok := policyOf(obj); ok {
					ix.Delete(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
				}
			},
		})
		if err != nil {
			return err
		}
		synced = append(synced, reg.HasSynced)
	}
	go func() {
		if toolscache.WaitForCacheSync(ctx.Done(), synced...) {
			ix.MarkSynced()
		}
	}()
	return nil
}
