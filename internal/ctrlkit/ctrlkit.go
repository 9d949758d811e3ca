package ctrlkit

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// PatchStatus writes obj's status when it differs from before's, a copy of obj taken
// before the reconcile changed it; it reports whether it wrote. A reconcile that changed
// nothing sends nothing. The optimistic lock turns a write based on an object older than
// the last status write into a conflict (apierrors.IsConflict) for the caller to retry,
// instead of a write that undoes newer status.
func PatchStatus[T client.Object](ctx context.Context, c client.Client, obj, before T) (bool, error) {
	return patchStatus(ctx, c, obj, before, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// ConflictRetry is how soon a reconcile whose status write met a newer object runs again.
const ConflictRetry = 100 * time.Millisecond

// FinishStatus ends a reconcile: it writes obj's status with PatchStatus and returns the
// result, requeue after requeue. A conflict is a reconcile of an object read before the
// last status write: it runs again after ConflictRetry, on the newer object, rather
// than failing with backoff. An object deleted meanwhile ends the reconcile.
func FinishStatus[T client.Object](ctx context.Context, c client.Client, obj, before T, requeue time.Duration) (reconcile.Result, error) {
	if _, err := PatchStatus(ctx, c, obj, before); err != nil {
		switch {
		case apierrors.IsConflict(err):
			return reconcile.Result{RequeueAfter: ConflictRetry}, nil
		case apierrors.IsNotFound(err):
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// MergeStatus is PatchStatus without the lock, for a controller that owns only some
// fields of a status another controller writes too: the merge patch carries only the
// fields it changed, so neither undoes the other's.
func MergeStatus[T client.Object](ctx context.Context, c client.Client, obj, before T) (bool, error) {
	return patchStatus(ctx, c, obj, before, client.MergeFrom(before))
}

func patchStatus(ctx context.Context, c client.Client, obj, before client.Object, p client.Patch) (bool, error) {
	if equality.Semantic.DeepEqual(status(before), status(obj)) {
		return false, nil
	}
	if err := c.Status().Patch(ctx, obj, p); err != nil {
		return false, fmt.Errorf("writing the status of %s %s: %w", reflect.TypeOf(obj).Elem().Name(), client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// status is the Status field of a kind's struct; every trustsync kind has one.
func status(obj client.Object) any {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	f := v.FieldByName("Status")
	if !f.IsValid() {
		panic(fmt.Sprintf("ctrlkit: %T has no Status field", obj))
	}
	return f.Interface()
}

// Requests is one reconcile request per item of a list.
func Requests[T any, P interface {
	*T
	client.Object
}](items []T) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for i := range items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(P(&items[i]))})
	}
	return out
}
