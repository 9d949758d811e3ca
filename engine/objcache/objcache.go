package objcache

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
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
		DefaultTransform:     Trim(o.FieldOwner),
		ByObject:             o.ByObject,
	})
}
