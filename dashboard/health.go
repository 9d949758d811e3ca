package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/manifest"
)

// statusless are kinds with no status to read: kstatus calls them Current once they
// exist, and the engine's drift check says whether they still do. Secrets are never read.
var statusless = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}: true, {Kind: "Secret"}: true, {Kind: "ServiceAccount"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}: true, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: true, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}: true,
}

// healthReader reads applied objects' health from the cache, which watches each kind
// the first time a page needs it (only objects a Sync applied: CacheOptions selects
// them by label).
type healthReader struct {
	cache   Cache
	timeout time.Duration
	changed func()
	log     logr.Logger
	watched sync.Map // schema.GroupVersionKind → true, once its changes feed the streams
}

// of returns the healths of a Sync's inventory entries.
func (h *healthReader) of(ctx context.Context, entries []gitopsv1.InventoryEntry) views.Healths {
	versions := make(map[manifest.Ref]string, len(entries))
	for _, e := range entries {
		if ref, err := manifest.ParseID(e.ID); err == nil {
			versions[ref] = e.V
		}
	}
	return func(ref manifest.Ref) views.Health {
		if statusless[ref.GroupKind()] {
			return HealthOf(ref.GroupKind(), nil)
		}
		gvk := ref.GroupKind().WithVersion(versions[ref])
		if !h.watch(ctx, gvk) {
			return views.Health{Status: string(status.UnknownStatus), Message: "its kind cannot be watched"}
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		rctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		if err := h.cache.Get(rctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, u, client.UnsafeDisableDeepCopy); err != nil {
			if apierrors.IsNotFound(err) {
				return HealthOf(ref.GroupKind(), nil)
			}
			return views.Health{Status: string(status.UnknownStatus), Message: "cannot be read: " + err.Error()}
		}
		return HealthOf(ref.GroupKind(), u)
	}
}

// Statusless tells whether a kind has no status to read (and, for Secrets, is never
// read): its objects are Current once applied.
func Statusless(gk schema.GroupKind) bool { return statusless[gk] }

// HealthOf is an applied object's health as the dashboard shows it: kstatus's, or
// Current for a kind without a status; u nil is an object not in the cluster.
func HealthOf(gk schema.GroupKind, u *unstructured.Unstructured) views.Health {
	if statusless[gk] {
		return views.Health{Status: string(status.CurrentStatus), Message: "applied; the kind has no status"}
	}
	if u == nil {
		return views.Health{Status: string(status.NotFoundStatus), Message: "not in the cluster"}
	}
	res, err := status.Compute(u)
	if err != nil {
		return views.Health{Status: string(status.UnknownStatus), Message: err.Error()}
	}
	return views.Health{Status: string(res.Status), Message: res.Message}
}

// watch makes the kind's informer feed the streams, once; false when it cannot start.
func (h *healthReader) watch(ctx context.Context, gvk schema.GroupVersionKind) bool {
	if _, ok := h.watched.Load(gvk); ok {
		return true
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	inf, err := h.cache.GetInformer(rctx, u)
	if err != nil {
		h.log.V(1).Info("cannot watch an applied kind", "kind", gvk.String(), "error", err.Error())
		return false
	}
	if _, loaded := h.watched.LoadOrStore(gvk, true); !loaded {
		if _, err := inf.AddEventHandler(changes(h.changed)); err != nil {
			h.watched.Delete(gvk)
			return false
		}
	}
	return true
}
