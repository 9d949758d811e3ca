package syncs

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/secureprofile"
)

// splitPlatform separates the objects every Sync renders for the platform as a whole
// from the Sync's own.
func splitPlatform(objs []*manifest.Object) (platform, own []*manifest.Object) {
	for _, o := range objs {
		if secureprofile.IsPlatform(o) {
			platform = append(platform, o)
		} else {
			own = append(own, o)
		}
	}
	return platform, own
}

// applyPlatform applies the platform objects with an owner of their own, once for all
// Syncs: were each Sync to apply them, Syncs would take them from one another forever,
// and pruning one Sync would delete them for all. They are never pruned.
func (r *Reconciler) applyPlatform(ctx context.Context, objs []*manifest.Object) error {
	objs = withoutUnservedOperands(r.Mapper, objs)
	if len(objs) == 0 {
		return nil
	}
	r.platformMu.Lock()
	defer r.platformMu.Unlock()
	if r.platform == nil {
		c, err := r.clientOf(r.Config, r.Mapper, "")
		if err != nil {
			return err
		}
		opts := apply.DefaultOptions()
		opts.FieldOwner = gitopsv1.FieldManager
		opts.Labels = map[string]string{gitopsv1.LabelSyncName: PlatformOwner, gitopsv1.LabelSyncNamespace: r.Platform.Namespace}
		opts.Concurrency = r.Options.Concurrency
		objects := r.PlatformObjects
		if objects == nil {
			objects = r.Objects
		}
		if r.platform, err = apply.New(c, objects, r.Mapper, opts); err != nil {
			return err
		}
	}
	_, err := r.platform.Apply(ctx, objs)
	return err
}

// withoutUnservedOperands leaves the Kuadrant CR, and the namespace generated for it,
// out of the platform objects while the cluster does not serve the kind: like the
// reference operator, trustsync ensures it only where Kuadrant is installed, and a
// platform that enables it does not make every Sync fail before. The mapper discovers
// the CRD once it appears, and the next reconcile applies the CR.
func withoutUnservedOperands(mapper meta.RESTMapper, objs []*manifest.Object) []*manifest.Object {
	i := slices.IndexFunc(objs, func(o *manifest.Object) bool { return o.GroupVersionKind().GroupKind() == secureprofile.KuadrantKind })
	if i < 0 {
		return objs
	}
	if _, err := mapper.RESTMapping(secureprofile.KuadrantKind, objs[i].GroupVersionKind().Version); err == nil {
		return objs
	}
	return slices.DeleteFunc(slices.Clone(objs), secureprofile.IsKuadrantOperand)
}

// PlatformOwner is the owner label value of the platform objects.
const PlatformOwner = "trustsync-platform"
