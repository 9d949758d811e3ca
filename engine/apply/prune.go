package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Inventory is what an owner applied: the objects and the API version each was applied
// with, in apply order.
type Inventory []gitopsv1.InventoryEntry

// InventoryOf lists the objects of a change set; what was pruned or skipped is left out.
func InventoryOf(cs *ChangeSet) Inventory {
	var inv Inventory
	for _, c := range cs.Changes {
		if c.Action == Pruned || c.Action == Skipped {
			continue
		}
		inv = append(inv, gitopsv1.InventoryEntry{ID: c.Object.ID(), V: c.Version})
	}
	return inv
}

// Stale returns the entries of old that are not in current.
func Stale(old, current Inventory) Inventory {
	keep := make(map[string]bool, len(current))
	for _, e := range current {
		keep[e.ID] = true
	}
	var out Inventory
	for _, e := range old {
		if !keep[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

// Prune deletes the stale objects that still carry the owner's labels. Namespaces and
// CRDs are kept (and reported Skipped) unless the options allow deleting them: deleting
// one deletes everything in it. It returns what it did and the entries it failed to
// delete, which stay in the owner's inventory to be tried again.
func (m *Manager) Prune(ctx context.Context, stale Inventory) (*ChangeSet, Inventory, error) {
	cs := &ChangeSet{}
	var failed Inventory
	var errs []error
	// Delete in reverse apply order: what depends on a namespace or kind goes first.
	ordered := slices.Clone(stale)
	slices.Reverse(ordered)
	for _, e := range ordered {
		ref, err := manifest.ParseID(e.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gvk := schema.GroupVersionKind{Group: ref.Group, Version: e.V, Kind: ref.Kind}
		if (ref.GroupKind() == gkNamespace || ref.GroupKind() == gkCRD) && !m.opts.PruneNamespacesAndCRDs {
			cs.Changes = append(cs.Changes, Change{Object: ref, Action: Skipped})
			m.remember(ref, nil)
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(gvk)
		err = m.cache.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, live)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			m.remember(ref, nil) // already gone
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", ref, err))
			failed = append(failed, e)
			continue
		}
		if !m.owns(live) {
			// Relabelled by someone else: no longer ours to delete.
			m.remember(ref, nil)
			continue
		}
		policy := metav1.DeletePropagationBackground
		if err := m.client.Delete(ctx, live, &client.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("pruning %s: %w", ref, err))
			failed = append(failed, e)
			continue
		}
		m.remember(ref, nil)
		cs.Changes = append(cs.Changes, Change{Object: ref, Action: Pruned})
	}
	slices.Reverse(cs.Changes)
	return cs, failed, errors.Join(errs...)
}

func (m *Manager) owns(u *unstructured.Unstructured) bool {
	l := u.GetLabels()
	for k, v := range m.opts.Labels {
		if l[k] != v {
			return false
		}
	}
	return true
}
