package bundleserver

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Watch feeds ix from the AuthorizationPolicies of the cache c, and marks ix synced
// once every policy listed at start has been recorded. It returns when the handler is
// registered; the cache must be started (before or after).
func Watch(ctx context.Context, c cache.Cache, ix *Index) error {
	inf, err := c.GetInformer(ctx, &agentv1.AuthorizationPolicy{})
	if err != nil {
		return fmt.Errorf("watching AuthorizationPolicies: %w", err)
	}
	upsert := func(obj any) {
		if p, ok := obj.(*agentv1.AuthorizationPolicy); ok {
			ix.Upsert(p)
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*agentv1.AuthorizationPolicy); ok {
				ix.Delete(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
			}
		},
	})
	if err != nil {
		return err
	}
	go func() {
		if toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			ix.MarkSynced()
		}
	}()
	return nil
}
