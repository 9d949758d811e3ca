package syncs

import (
	"context"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/internal/predicates"
)

// sourceIndex indexes Syncs by the GitSource they apply (<namespace>/<name>).
const sourceIndex = ".spec.sourceRef"

// SetupWithManager registers the Sync controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	r.watch = newDriftWatch(r.Objects)
	r.sources = make(chan event.GenericEvent, 256)
	if err := mgr.GetFieldIndexer().IndexField(ctx, &gitopsv1.Sync{}, sourceIndex, func(o client.Object) []string {
		s := o.(*gitopsv1.Sync)
		ns := s.Spec.SourceRef.Namespace
		if ns == "" {
			ns = s.Namespace
		}
		return []string{ns + "/" + s.Spec.SourceRef.Name}
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&gitopsv1.Sync{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequested{}))).
		Watches(&gitopsv1.GitSource{}, handler.EnqueueRequestsFromMapFunc(r.syncsOf))
	if r.Members != nil {
		// A Cluster relabelled, held, reachable again or not: its fleet Syncs look again.
		b = b.Watches(&gitopsv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.fleetSyncsOf), builder.WithPredicates(clusterChanged{}))
	}
	return b.
		WatchesRawSource(source.Channel(r.watch.events, &handler.EnqueueRequestForObject{})).
		WatchesRawSource(source.Channel(r.sources, handler.EnqueueRequestsFromMapFunc(r.syncsOf))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// SourceUpdated reconciles the Syncs of a source, e.g. when its artifact is published
// without a change the GitSource's status would show (the first fetch after a restart).
func (r *Reconciler) SourceUpdated(src types.NamespacedName) {
	gs := &gitopsv1.GitSource{}
	gs.SetNamespace(src.Namespace)
	gs.SetName(src.Name)
	select {
	case r.sources <- event.GenericEvent{Object: gs}:
	default: // the Syncs are queued already
	}
}

// fleetSyncsOf lists the Syncs with a clusterSelector in a Cluster's namespace.
func (r *Reconciler) fleetSyncsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list gitopsv1.SyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	list.Items = slices.DeleteFunc(list.Items, func(s gitopsv1.Sync) bool { return s.Spec.ClusterSelector == nil })
	return ctrlkit.Requests(list.Items)
}

// clusterChanged passes the Cluster changes a rollout reads: its labels, its hold
// annotation, its platform, its Ready status; not its every contact.
type clusterChanged struct{ predicate.Funcs }

func (clusterChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*gitopsv1.Cluster)
	n, ok2 := e.ObjectNew.(*gitopsv1.Cluster)
	if !ok1 || !ok2 {
		return false
	}
	return o.Generation != n.Generation || !maps.Equal(o.Labels, n.Labels) ||
		o.Annotations[gitopsv1.AnnotationHold] != n.Annotations[gitopsv1.AnnotationHold] ||
		readyOf(o) != readyOf(n)
}

func readyOf(c *gitopsv1.Cluster) metav1.ConditionStatus {
	if cond := meta.FindStatusCondition(c.Status.Conditions, gitopsv1.ReadyCondition); cond != nil {
		return cond.Status
	}
	return metav1.ConditionUnknown
}

// syncsOf lists the Syncs that apply a GitSource.
func (r *Reconciler) syncsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list gitopsv1.SyncList
	if err := r.Client.List(ctx, &list, client.MatchingFields{sourceIndex: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		return nil
	}
	return ctrlkit.Requests(list.Items)
}
