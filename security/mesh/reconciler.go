package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Reasons of the Normal events.
const (
	// ReasonCACertsUpdated: a cacerts Secret was written and the mesh rolled onto it.
	ReasonCACertsUpdated = "CACertsUpdated"
)

// Reconciler keeps a cacerts Secret beside each intermediate CA Secret, equal to
// that intermediate once it verifies against the mesh root. Every request reconciles
// the whole mesh trust: there is one root, and its change concerns every intermediate.
type Reconciler struct {
	// Client writes cacerts (server-side apply), restarts workloads and deletes.
	// SetupWithManager defaults it to the manager's client.
	Client client.Client
	// Reader reads live, without a cache (the manager's API reader by default).
	Reader client.Reader
	// Events records events; nil for none.
	Events  events.EventRecorder
	Options Options

	mu       sync.Mutex
	reported map[types.NamespacedName]string // the last problem reported per Secret
}

// Reconcile verifies each intermediate against the root and brings its cacerts up to
// date. Missing Secrets are waited for quietly; a Secret that does not verify is
// reported once (per version and reason) and looked at again later.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	// The intermediates are read before the root: cert-manager issues a new intermediate
	// only after the root changed, so this order never pairs a new intermediate with an
	// old root, which would look like a mismatch and delete a good Secret.
	inters := make([]*corev1.Secret, len(r.Options.Intermediates))
	retry := false
	for i, in := range r.Options.Intermediates {
		s := &corev1.Secret{}
		err := r.Reader.Get(ctx, in.Secret, s)
		switch {
		case err == nil:
			inters[i] = s
		case !apierrors.IsNotFound(err):
			return reconcile.Result{}, fmt.Errorf("reading Secret %s: %w", in.Secret, err)
		default:
			exists, err := r.namespaceExists(ctx, in.Secret.Namespace)
			if err != nil {
				return reconcile.Result{}, err
			}
			if exists {
				logger.V(1).Info("waiting for the intermediate CA Secret", "secret", in.Secret)
				retry = true
			}
		}
	}
	root := &corev1.Secret{}
	if err := r.Reader.Get(ctx, r.Options.Root, root); err != nil {
		if apierrors.IsNotFound(err) {
			logger.V(1).Info("waiting for the mesh root CA Secret", "secret", r.Options.Root)
			return reconcile.Result{RequeueAfter: r.Options.RetryInterval}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading Secret %s: %w", r.Options.Root, err)
	}

	var errs []error
	for i, in := range r.Options.Intermediates {
		if inters[i] == nil {
			continue
		}
		again, err := r.reconcileIntermediate(ctx, root, inters[i], in)
		retry = retry || again
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return reconcile.Result{}, err
	}
	if retry {
		return reconcile.Result{RequeueAfter: r.Options.RetryInterval}, nil
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) reconcileIntermediate(ctx context.Context, root, inter *corev1.Secret, in Intermediate) (retry bool, err error) {
	b, err := Verify(root, inter, r.Options.Now())
	if err != nil {
		var ve *Error
		if !errors.As(err, &ve) {
			return false, err
		}
		return true, r.rejected(ctx, root, inter, ve)
	}
	r.forget(in.Secret, client.ObjectKeyFromObject(root))
	return false, r.write(ctx, in, b)
}

// rejected reports a Secret that cannot feed cacerts; cacerts stays as it is, so the
// mesh keeps its last good CA. An intermediate issued by another root is deleted
// (unless Options.KeepMismatched), as Kagenti's shared-trust controller does: cert-manager does not re-issue a Certificate because
// its issuer's CA changed, and deleting the Secret is what makes it issue one from the
// current root — this is how a root rotation reaches the intermediates.
func (r *Reconciler) rejected(ctx context.Context, root, inter *corev1.Secret, ve *Error) error {
	regarding := inter
	if ve.Secret == client.ObjectKeyFromObject(root) {
		regarding = root
	}
	deleted := false
	if ve.Reason == ReasonFingerprintMismatch && ve.Secret == client.ObjectKeyFromObject(inter) && !r.Options.KeepMismatched {
		// The preconditions make sure it is the version that was judged.
		uid, rv := inter.UID, inter.ResourceVersion
		err := r.Client.Delete(ctx, inter, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Changed meanwhile: the next reconcile judges the new version.
		default:
			return fmt.Errorf("deleting mismatched Secret %s: %w", ve.Secret, err)
		}
	}
	note := ve.Error()
	if deleted {
		note += "; deleted it so that cert-manager issues it again from the current root"
	}
	if r.report(ve.Secret, ve.Reason+"/"+regarding.ResourceVersion) {
		log.FromContext(ctx).Info("cacerts not updated", "reason", ve.Reason, "problem", note)
		if r.Events != nil {
			r.Events.Eventf(regarding, nil, corev1.EventTypeWarning, ve.Reason, "Verify", "%s", note)
		}
	}
	return nil
}

// write brings the cacerts Secret beside an intermediate up to date and, when its
// content changed, rolls the mesh. The rollout-pending annotation is written with the
// new content and removed once the workloads were restarted, so a crash or a failed
// restart in between is finished by a later reconcile.
func (r *Reconciler) write(ctx context.Context, in Intermediate, b *Bundle) error {
	key := types.NamespacedName{Namespace: in.Secret.Namespace, Name: r.Options.CACertsName}
	desired := b.Data()
	live := &corev1.Secret{}
	err := r.Reader.Get(ctx, key, live)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s: %w", key, err)
	}
	changed := !exists || !sameData(live.Data, desired) || live.Labels[LabelManagedBy] != ManagedBy
	pending := exists && live.Annotations[AnnotationRolloutPending] != ""
	if !changed && !pending {
		return nil
	}
	if changed {
		if err := r.apply(ctx, key, desired); err != nil {
			return err
		}
	}
	restarted, err := r.rollout(ctx, in)
	if err != nil {
		return err
	}
	cleaned, err := r.deleteStaleRootConfigMaps(ctx, in, b.RootCert)
	if err != nil {
		return err
	}
	done, err := r.rolledOut(ctx, key)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("cacerts written from Secret %s (root %s)", in.Secret, b.RootFingerprint)
	if !changed {
		note = fmt.Sprintf("finished the rollout of cacerts from Secret %s (root %s)", in.Secret, b.RootFingerprint)
	}
	if len(restarted) > 0 {
		note += "; restarted " + strings.Join(restarted, ", ")
	}
	if len(cleaned) > 0 {
		note += "; deleted stale " + RootConfigMapName + " in " + strings.Join(cleaned, ", ")
	}
	log.FromContext(ctx).Info("cacerts updated", "secret", key, "from", in.Secret, "root", b.RootFingerprint, "restarted", restarted, "rootConfigMapsDeleted", cleaned)
	if r.Events != nil {
		r.Events.Eventf(done, nil, corev1.EventTypeNormal, ReasonCACertsUpdated, "Update", "%s", note)
	}
	return nil
}

// apply writes cacerts by server-side apply: the four keys, the managed-by label and
// the rollout-pending annotation, in one write. Fields of other owners (extra keys,
// labels) stay.
func (r *Reconciler) apply(ctx context.Context, key types.NamespacedName, data map[string][]byte) error {
	ac := corev1ac.Secret(key.Name, key.Namespace).
		WithLabels(map[string]string{LabelManagedBy: ManagedBy}).
		WithAnnotations(map[string]string{AnnotationRolloutPending: "true"}).
		WithData(data)
	if err := r.Client.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing Secret %s: %w", key, err)
	}
	return nil
}

// rolledOut removes the rollout-pending annotation, whoever set it: one left behind
// would roll the mesh on every reconcile. It patches metadata only, so no key material
// is read back.
func (r *Reconciler) rolledOut(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	m := secretMetadata()
	m.Namespace, m.Name = key.Namespace, key.Name
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+AnnotationRolloutPending+`":null}}}`))
	if err := r.Client.Patch(ctx, m, patch); err != nil {
		return nil, fmt.Errorf("marking Secret %s rolled out: %w", key, err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, UID: m.UID, ResourceVersion: m.ResourceVersion}}, nil
}

// rollout restarts the workloads that read the intermediate's cacerts, as `kubectl
// rollout restart` does. A workload that does not exist is skipped.
func (r *Reconciler) rollout(ctx context.Context, in Intermediate) ([]string, error) {
	// Nanoseconds: two changes within one second must still produce two rollouts.
	at := r.Options.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationRestarted: at}}}}})
	if err != nil {
		return nil, err
	}
	var restarted []string
	for _, w := range in.Restart {
		targets, err := r.locate(ctx, w)
		if err != nil {
			return restarted, err
		}
		if len(targets) == 0 {
			log.FromContext(ctx).V(1).Info("no workload to restart", "workload", w.String())
		}
		for _, t := range targets {
			err := r.Client.Patch(ctx, t, client.RawPatch(types.StrategicMergePatchType, patch))
			switch {
			case err == nil:
				restarted = append(restarted, w.Kind+" "+t.GetNamespace()+"/"+t.GetName())
			case apierrors.IsNotFound(err):
			default:
				return restarted, fmt.Errorf("restarting %s %s/%s: %w", w.Kind, t.GetNamespace(), t.GetName(), err)
			}
		}
	}
	return restarted, nil
}

// locate finds the workloads a Workload names: the one in its namespace, or each of
// that name in any namespace when it names none.
func (r *Reconciler) locate(ctx context.Context, w Workload) ([]client.Object, error) {
	if w.Namespace != "" {
		var o client.Object = &appsv1.Deployment{}
		if w.Kind == KindDaemonSet {
			o = &appsv1.DaemonSet{}
		}
		o.SetNamespace(w.Namespace)
		o.SetName(w.Name)
		return []client.Object{o}, nil
	}
	byName := client.MatchingFields{"metadata.name": w.Name}
	var out []client.Object
	if w.Kind == KindDaemonSet {
		var list appsv1.DaemonSetList
		if err := r.Reader.List(ctx, &list, byName); err != nil {
			return nil, fmt.Errorf("finding %s: %w", w, err)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	var list appsv1.DeploymentList
	if err := r.Reader.List(ctx, &list, byName); err != nil {
		return nil, fmt.Errorf("finding %s: %w", w, err)
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// deleteStaleRootConfigMaps deletes the istio-ca-root-cert ConfigMaps whose root is not
// the new one, so that istiod publishes the new root there.
func (r *Reconciler) deleteStaleRootConfigMaps(ctx context.Context, in Intermediate, rootPEM []byte) ([]string, error) {
	var deleted []string
	for _, ns := range in.RootConfigMapNamespaces {
		cm := &corev1.ConfigMap{}
		err := r.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: RootConfigMapName}, cm)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, RootConfigMapName, err)
		}
		if bytes.Equal(bytes.TrimSpace([]byte(cm.Data[KeyRootCertPEM])), bytes.TrimSpace(rootPEM)) {
			continue
		}
		uid, rv := cm.UID, cm.ResourceVersion
		err = r.Client.Delete(ctx, cm, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		switch {
		case err == nil:
			deleted = append(deleted, ns)
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Replaced meanwhile, by istiod.
		default:
			return deleted, fmt.Errorf("deleting ConfigMap %s/%s: %w", ns, RootConfigMapName, err)
		}
	}
	return deleted, nil
}

func (r *Reconciler) namespaceExists(ctx context.Context, name string) (bool, error) {
	err := r.Reader.Get(ctx, types.NamespacedName{Name: name}, &corev1.Namespace{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("reading Namespace %s: %w", name, err)
	}
}

// report reports whether a problem with a Secret is new (not the last one reported),
// so a Secret that stays bad is not reported on every retry.
func (r *Reconciler) report(key types.NamespacedName, problem string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName]string{}
	}
	if r.reported[key] == problem {
		return false
	}
	r.reported[key] = problem
	return true
}

func (r *Reconciler) forget(keys ...types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.reported, k)
	}
}

// sameData compares the keys cacerts is made of; keys others added do not count.
func sameData(live, desired map[string][]byte) bool {
	for k, v := range desired {
		got, ok := live[k]
		if !ok || !bytes.Equal(got, v) {
			return false
		}
	}
	return true
}
