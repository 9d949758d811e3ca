package syncs

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/engine/objcache"
)

// driftWatch turns changes to applied objects into reconciles of the Sync that owns them:
// only deletions and changes to trustsync's own field ownership — the changes that are
// drift — not status updates or other fields, which would only cost reconciles.
type driftWatch struct {
	cache  cache.Cache
	events chan event.GenericEvent

	mu    sync.Mutex
	kinds map[schema.GroupVersionKind]bool
}

func newDriftWatch(c cache.Cache) *driftWatch {
	return &driftWatch{cache: c, events: make(chan event.GenericEvent, 1024), kinds: map[schema.GroupVersionKind]bool{}}
}

// on is a watch of another cache (a member cluster's) sending to the same reconciles.
func (w *driftWatch) on(c cache.Cache) *driftWatch {
	if w == nil {
		return nil
	}
	return &driftWatch{cache: c, events: w.events, kinds: map[schema.GroupVersionKind]bool{}}
}

// ensure adds the handler to the informers of the kinds of a change set.
func (w *driftWatch) ensure(ctx context.Context, cs *apply.ChangeSet) {
	if w == nil {
		return
	}
	for _, c := range cs.Changes {
		gvk := schema.GroupVersionKind{Group: c.Object.Group, Version: c.Version, Kind: c.Object.Kind}
		w.mu.Lock()
		seen := w.kinds[gvk]
		w.kinds[gvk] = true
		w.mu.Unlock()
		if seen {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		inf, err := w.cache.GetInformer(ctx, u)
		if err != nil {
			log.FromContext(ctx).Error(err, "watching for drift", "kind", gvk)
			w.mu.Lock()
			delete(w.kinds, gvk)
			w.mu.Unlock()
			continue
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj any) {
				if ownershipChanged(oldObj, newObj) || agentStatusChanged(oldObj, newObj) {
					w.enqueue(newObj)
				}
			},
			DeleteFunc: w.enqueue,
		}); err != nil {
			log.FromContext(ctx).Error(err, "watching for drift", "kind", gvk)
		}
	}
}

func (w *driftWatch) enqueue(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	l := m.GetLabels()
	name, ns := l[gitopsv1.LabelSyncName], l[gitopsv1.LabelSyncNamespace]
	if name == "" || ns == "" {
		return
	}
	s := &gitopsv1.Sync{}
	s.SetName(name)
	s.SetNamespace(ns)
	select {
	case w.events <- event.GenericEvent{Object: s}:
	default: // a reconcile of it is pending already, or will come with the interval
	}
}

// ownershipChanged reports whether trustsync's managedFields entry changed: someone took
// fields from it. The cache keeps only that entry and the writes since (package objcache).
func ownershipChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return false
	}
	return objcache.OwnedText(o.Object, gitopsv1.FieldManager) != objcache.OwnedText(n.Object, gitopsv1.FieldManager)
}
