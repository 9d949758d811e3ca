package mesh

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// ControllerName names the controller (logs, metrics).
const ControllerName = "mesh-cacerts"

// trustRequest is the one request every watched Secret maps to.
var trustRequest = reconcile.Request{NamespacedName: types.NamespacedName{Name: "mesh-trust"}}

// SetupWithManager validates the options and registers the controller. It watches the
// root, every intermediate and every cacerts Secret (so a deleted or edited cacerts is
// written again), each through its own informer: a field selector can name one object
// only, and one informer per Secret name is what keeps every other Secret of the
// cluster, and every key, out of this process. The informers hold metadata only; the
// reconciler reads the Secrets live when it needs their data.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	if err := r.Options.validate(); err != nil {
		return err
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	enqueue := handler.TypedEnqueueRequestsFromMapFunc(func(context.Context, *metav1.PartialObjectMetadata) []reconcile.Request {
		return []reconcile.Request{trustRequest}
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// One request for the whole trust; more workers would only wait on each other.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1})
	for _, key := range r.watched() {
		c, err := crcache.New(mgr.GetConfig(), crcache.Options{
			HTTPClient: mgr.GetHTTPClient(),
			Scheme:     mgr.GetScheme(),
			Mapper:     mgr.GetRESTMapper(),
			DefaultNamespaces: map[string]crcache.Config{
				key.Namespace: {FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name)},
			},
			DefaultTransform: dropManagedFields,
		})
		if err != nil {
			return fmt.Errorf("mesh: cache for Secret %s: %w", key, err)
		}
		if err := mgr.Add(c); err != nil {
			return err
		}
		b = b.WatchesRawSource(source.Kind(c, secretMetadata(), enqueue, predicate.TypedResourceVersionChangedPredicate[*metav1.PartialObjectMetadata]{}))
	}
	return b.Complete(r)
}

// watched lists the Secrets the controller watches, each once.
func (r *Reconciler) watched() []types.NamespacedName {
	seen := map[types.NamespacedName]bool{}
	var out []types.NamespacedName
	add := func(k types.NamespacedName) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	add(r.Options.Root)
	for _, in := range r.Options.Intermediates {
		add(in.Secret)
		add(types.NamespacedName{Namespace: in.Secret.Namespace, Name: r.Options.CACertsName})
	}
	return out
}

func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// dropManagedFields keeps the informers small: nothing here reads managedFields.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
