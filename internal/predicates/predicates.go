// Package predicates holds the event filters trustsync's controllers share.
package predicates

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// ReconcileRequested passes updates that change the reconcile-requested-at annotation,
// so `trustsync reconcile` is answered at once.
type ReconcileRequested struct{ predicate.Funcs }

// Update implements predicate.Predicate.
func (ReconcileRequested) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	return e.ObjectOld.GetAnnotations()[gitopsv1.AnnotationReconcileRequestedAt] != e.ObjectNew.GetAnnotations()[gitopsv1.AnnotationReconcileRequestedAt]
}
