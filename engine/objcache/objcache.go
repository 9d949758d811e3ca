package objcache

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configure the cache.
type Options struct {
	// Scheme of typed objects read through the cache.
	Scheme *runtime.Scheme
	// FieldOwner whose managedFields entries are kept.
	FieldOwner string
	// OwnerLabel is the label every managed object carries; objects without it are not
	// cached.
	OwnerLabel string
	// Selector further narrows what is cached (a controller shard's watch selector).
	Selector labels.Requirements
	// ByObject sets other options for some types (e.g. the engine's own CRDs, which
	// carry no owner label).
	ByObject map[client.Object]crcache.ByObject
}

// New builds the cache; start it with the manager.
func New(cfg *rest.Config, o Options) (crcache.Cache, error) {
	req, err := labels.NewRequirement(o.OwnerLabel, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("owner label %q: %w", o.OwnerLabel, err)
	}
	return crcache.New(cfg, crcache.Options{
		Scheme:               o.Scheme,
		DefaultLabelSelector: labels.NewSelector().Add(*req).Add(o.Selector...),
		DefaultTransform:     KeepManagedFields(o.FieldOwner),
		ByObject:             o.ByObject,
	})
}

// KeepManagedFields returns a transform that keeps the given manager's managedFields
// entries, and of the others only those on the main resource at least as recent as the
// manager's last apply (the writes since then, which a restarted engine must weigh; the
// rest are history it never reads), and drops the last-applied-configuration annotation.
func KeepManagedFields(manager string) cache.TransformFunc {
	return func(obj any) (any, error) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return obj, nil
		}
		var applied *metav1.Time
		for _, e := range m.GetManagedFields() {
			if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
				applied = e.Time
			}
		}
		var kept []metav1.ManagedFieldsEntry
		for _, e := range m.GetManagedFields() {
			since := e.Subresource == "" && (applied == nil || e.Time == nil || !e.Time.Before(applied))
			if e.Manager == manager || since {
				kept = append(kept, e)
			}
		}
		m.SetManagedFields(kept)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				delete(a, "kubectl.kubernetes.io/last-applied-configuration")
				m.SetAnnotations(a)
			}
		}
		return obj, nil
	}
}
