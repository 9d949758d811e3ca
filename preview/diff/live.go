package diff

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Cluster is what Live needs of a cluster; a controller-runtime client.Client has it.
type Cluster interface {
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
	Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error
}

// LiveOptions configure Live. The zero value uses the defaults.
type LiveOptions struct {
	// FieldOwner of the dry-run applies; default gitopsv1.FieldManager, so the result is
	// what the engine's apply would make of the live object.
	FieldOwner string
	// Concurrency bounds the requests in flight; default 8.
	Concurrency int
	// Timeout bounds the whole comparison; default 2 minutes.
	Timeout time.Duration
}

func (o LiveOptions) withDefaults() LiveOptions {
	if o.FieldOwner == "" {
		o.FieldOwner = gitopsv1.FieldManager
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return o
}

// Live compares the head with the cluster. Every head object is applied server-side as
// a dry run, so defaulting and admission webhooks take part, and the answer is diffed
// against the live object: an object that is not live is added. A base object the head
// drops is removed when it is live (the engine would prune it). A namespaced object
// whose Namespace, or a custom object whose CRD, the head itself adds cannot be dry-run
// before those exist and counts as added as rendered. Nothing is written. Any object the
// API server rejects is an error naming it; all of them are reported.
func Live(ctx context.Context, c Cluster, base, head []*manifest.Object, o LiveOptions) (Result, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	h := manifest.NewIndex(head)
	var removed []*manifest.Object
	for ref, bo := range manifest.NewIndex(base) {
		if _, ok := h[ref]; !ok {
			removed = append(removed, bo)
		}
	}
	// Slots per object, so the order of the answers does not matter.
	heads := make([]*manifest.Object, 0, len(h))
	for _, ho := range h {
		heads = append(heads, ho)
	}
	items := make([]*item, len(heads)+len(removed))
	errs := make([]error, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, ho := range heads {
		g.Go(func() error {
			items[i], errs[i] = liveHead(gctx, c, ho, h, o)
			return nil
		})
	}
	for j, bo := range removed {
		i := len(heads) + j
		g.Go(func() error {
			items[i], errs[i] = liveRemoved(gctx, c, bo)
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	var out []item
	for _, it := range items {
		if it != nil {
			out = append(out, *it)
		}
	}
	return collect(out), nil
}

func liveHead(ctx context.Context, c Cluster, obj *manifest.Object, head manifest.Index, o LiveOptions) (*item, error) {
	fail := func(what string, err error) error {
		return &manifest.Error{File: obj.Source, Object: obj.Ref(), Err: fmt.Errorf("%s: %w", what, err)}
	}
	dry := obj.Unstructured.DeepCopy()
	err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(dry), client.DryRunAll, client.FieldOwner(o.FieldOwner), client.ForceOwnership)
	switch {
	case err != nil && createdByHead(err, obj, head):
		return &item{newChange(Added, obj), obj}, nil
	case err != nil:
		return nil, fail("server-side dry-run", err)
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	err = c.Get(ctx, client.ObjectKeyFromObject(obj), live)
	switch {
	case apierrors.IsNotFound(err):
		return &item{newChange(Added, obj), obj}, nil
	case err != nil:
		return nil, fail("reading the live object", err)
	}
	fields, followed := Fields(live, dry)
	if len(fields) == 0 && len(followed) == 0 {
		return nil, nil
	}
	ch := newChange(Changed, obj)
	ch.Fields, ch.Followed = fields, followed
	return &item{ch, obj}, nil
}

// createdByHead reports whether a dry-run failed only for want of a Namespace or CRD
// that the head adds itself.
func createdByHead(err error, obj *manifest.Object, head manifest.Index) bool {
	if ns := obj.GetNamespace(); ns != "" && apierrors.IsNotFound(err) {
		if _, ok := head[manifest.Ref{Kind: "Namespace", Name: ns}]; ok {
			return true
		}
	}
	if meta.IsNoMatchError(err) {
		gk := obj.GroupVersionKind().GroupKind()
		for ref, o := range head {
			if ref.GroupKind() != (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
				continue
			}
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			if group == gk.Group && kind == gk.Kind {
				return true
			}
		}
	}
	return false
}

func liveRemoved(ctx context.Context, c Cluster, obj *manifest.Object) (*item, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	err := c.Get(ctx, client.ObjectKeyFromObject(obj), live)
	switch {
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		return nil, nil // nothing to prune
	case err != nil:
		return nil, &manifest.Error{File: obj.Source, Object: obj.Ref(), Err: fmt.Errorf("reading the live object: %w", err)}
	}
	return &item{newChange(Removed, obj), obj}, nil
}
