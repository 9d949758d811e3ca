package keycloak

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/internal/predicates"
	"github.com/trustsync/trustsync/security/agentid"
)

// ClientRegistrar is what the controller needs of a Registrar.
type ClientRegistrar interface {
	Ensure(ctx context.Context, a Agent) (*Registration, error)
	Delete(ctx context.Context, a Agent) error
	DeleteClient(ctx context.Context, clientID string) error
}

// ControllerName names the controller in logs and metrics; Kagenti's instance, the
// others' have their family's name appended.
const ControllerName = "keycloak-client"

// ReconcilerOptions tune the controller. Zero values take the defaults.
type ReconcilerOptions struct {
	// MaxConcurrentReconciles; 2.
	MaxConcurrentReconciles int
	// RetryBase and RetryMax bound the exponential backoff after a failure (Keycloak
	// down); 500ms and 5m.
	RetryBase, RetryMax time.Duration
	// Resync is how often a registered agent is checked again, to correct drift made in
	// Keycloak, which sends no events; 10m.
	Resync time.Duration
	// TargetRetry is how soon a missing workload of an unwatched kind (Sandbox) is looked
	// for again; 30s.
	TargetRetry time.Duration
}

// DefaultReconcilerOptions are the controller's defaults.
func DefaultReconcilerOptions() ReconcilerOptions {
	return ReconcilerOptions{MaxConcurrentReconciles: 2, RetryBase: 500 * time.Millisecond, RetryMax: 5 * time.Minute, Resync: 10 * time.Minute, TargetRetry: 30 * time.Second}
}

func (o *ReconcilerOptions) defaults() {
	d := DefaultReconcilerOptions()
	if o.MaxConcurrentReconciles == 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
	if o.RetryBase == 0 {
		o.RetryBase = d.RetryBase
	}
	if o.RetryMax == 0 {
		o.RetryMax = d.RetryMax
	}
	if o.Resync == 0 {
		o.Resync = d.Resync
	}
	if o.TargetRetry == 0 {
		o.TargetRetry = d.TargetRetry
	}
}

// Reconciler registers every AgentRuntime's workload as a Keycloak client and keeps its
// credentials Secret. It owns the condition ClientRegistered and the finalizer and
// annotation named in keycloak/names.go, nothing else of the AgentRuntime.
type Reconciler struct {
	// Client reads AgentRuntimes and workloads from the cache and writes.
	Client client.Client
	// Reader reads Secrets and Sandboxes uncached (the manager's APIReader).
	Reader    client.Reader
	Registrar ClientRegistrar
	Platform  *gitopsv1.Platform
	// Family names the credentials Secrets and reads the pods' labels; Kagenti when
	// unset.
	Family agentv1.Family
	// Events records events; nil for none.
	Events  events.EventRecorder
	Options ReconcilerOptions
}

const targetIndex = "keycloak.spec.targetRef"

func (r *Reconciler) family() agentv1.Family { return cmp.Or(r.Family, agentv1.Kagenti) }

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	if r.Platform == nil {
		r.Platform = gitopsv1.DefaultPlatform()
	}
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	f := r.family()
	if err := mgr.GetFieldIndexer().IndexField(ctx, kinds.NewAgentRuntime(f), targetIndex, func(o client.Object) []string {
		return []string{agentid.TargetOf(kinds.AgentRuntime(o)).Key()}
	}); err != nil {
		return err
	}
	deletionStarted := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(f.ControllerName(ControllerName)).
		For(kinds.NewAgentRuntime(f), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequested{}, deletionStarted)))
	// With registration off the controller only releases what it registered before, which
	// needs no workloads: no workload informer, no cache of every Deployment.
	if r.Platform.ClientRegistrationEnabled() {
		b = b.Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.agentsOf("Deployment")), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.agentsOf("StatefulSet")), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	return b.WithOptions(controller.Options{
		MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](r.Options.RetryBase, r.Options.RetryMax),
	}).
		Complete(r)
}

// agentsOf maps a workload to the AgentRuntimes that target it.
func (r *Reconciler) agentsOf(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := kinds.NewAgentRuntimeList(r.family())
		if err := r.Client.List(ctx, list.(client.ObjectList), client.InNamespace(o.GetNamespace()), client.MatchingFields{targetIndex: agentid.Workload{Group: "apps", Kind: kind, Name: o.GetName()}.Key()}); err != nil {
			return nil
		}
		return ctrlkit.Requests(kinds.AgentRuntimes(list))
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	obj := kinds.NewAgentRuntime(r.family())
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	rt := kinds.AgentRuntime(obj)
	if !rt.DeletionTimestamp.IsZero() || !agentid.Registered(r.Platform, rt.Spec.Type) {
		return ctrl.Result{}, r.cleanup(ctx, rt)
	}

	w, err := r.target(ctx, rt)
	switch {
	case errors.Is(err, errUnsupportedKind):
		return ctrl.Result{}, r.condition(ctx, rt, metav1.ConditionFalse, ReasonUnsupportedKind, err.Error())
	case apierrors.IsNotFound(err):
		msg := fmt.Sprintf("%s %s/%s does not exist; no Keycloak client until it does", rt.Spec.TargetRef.Kind, rt.Namespace, rt.Spec.TargetRef.Name)
		return ctrl.Result{RequeueAfter: r.Options.TargetRetry}, r.condition(ctx, rt, metav1.ConditionFalse, ReasonTargetNotFound, msg)
	case err != nil:
		return ctrl.Result{}, err
	}
	clientID, err := agentid.AgentClientID(r.Platform, r.family(), rt, w.name, w.template.Spec.ServiceAccountName, w.template.Labels)
	if err != nil {
		return ctrl.Result{}, r.condition(ctx, rt, metav1.ConditionFalse, ReasonInvalidIdentity, err.Error())
	}

	// Record the client before it exists, so no client is ever without a record of it.
	recorded := recordedClientIDs(rt)
	if !controllerutil.ContainsFinalizer(rt, Finalizer) || !slices.Contains(recorded, clientID) {
		if err := r.patchRecord(ctx, rt, true, append(recorded, clientID)); err != nil {
			return ctrl.Result{}, err
		}
	}

	agent := Agent{Namespace: rt.Namespace, Workload: w.name, ClientID: clientID}
	reg, err := r.Registrar.Ensure(ctx, agent)
	if err != nil {
		// The credentials Secret stays as it is: the pods keep working with what they have.
		msg := fmt.Sprintf("registering client %s failed, retrying with backoff; the credentials Secret is kept as it is: %v", clientID, err)
		if cerr := r.condition(ctx, rt, metav1.ConditionFalse, ReasonOf(err), msg); cerr != nil {
			log.FromContext(ctx).Error(cerr, "writing the ClientRegistered condition")
		}
		return ctrl.Result{}, err
	}
	secretName := agentid.CredentialsSecretName(r.family(), rt.Namespace, w.name)
	if err := r.writeSecret(ctx, rt, w, secretName, reg); err != nil {
		msg := fmt.Sprintf("writing Secret %s/%s failed: %v", rt.Namespace, secretName, err)
		if cerr := r.condition(ctx, rt, metav1.ConditionFalse, ReasonSecretWriteFailed, msg); cerr != nil {
			log.FromContext(ctx).Error(cerr, "writing the ClientRegistered condition")
		}
		return ctrl.Result{}, err
	}

	// Clients of an earlier identity of the agent (its ServiceAccount changed) go.
	if len(recorded) > 1 || (len(recorded) == 1 && recorded[0] != clientID) {
		for _, old := range recorded {
			if old == clientID {
				continue
			}
			if err := r.Registrar.DeleteClient(ctx, old); err != nil {
				return ctrl.Result{}, err
			}
			r.event(rt, corev1.EventTypeNormal, "ClientDeleted", "Deleted Keycloak client %s, which the agent no longer uses", old)
		}
		if err := r.patchRecord(ctx, rt, true, []string{clientID}); err != nil {
			return ctrl.Result{}, err
		}
	}

	switch {
	case reg.Created:
		r.event(rt, corev1.EventTypeNormal, ReasonRegistered, "Registered Keycloak client %s; credentials in Secret %s", clientID, secretName)
	case len(reg.Corrected) > 0:
		r.event(rt, corev1.EventTypeNormal, "ClientCorrected", "Corrected Keycloak client %s where it had drifted: %s", clientID, strings.Join(reg.Corrected, ", "))
	}
	msg := fmt.Sprintf("Keycloak client %s is registered; credentials in Secret %s", clientID, secretName)
	return ctrl.Result{RequeueAfter: r.Options.Resync}, r.condition(ctx, rt, metav1.ConditionTrue, ReasonRegistered, msg)
}

// cleanup deletes what the controller registered for an AgentRuntime that is going
// away or no longer gets a client, then lets it go.
func (r *Reconciler) cleanup(ctx context.Context, rt *agentv1.AgentRuntime) error {
	deleting := !rt.DeletionTimestamp.IsZero()
	if !controllerutil.ContainsFinalizer(rt, Finalizer) {
		if deleting {
			return nil
		}
		return r.dropCondition(ctx, rt)
	}
	workload := rt.Spec.TargetRef.Name
	recorded := recordedClientIDs(rt)
	for _, id := range recorded {
		if err := r.Registrar.DeleteClient(ctx, id); err != nil {
			return r.cleanupFailed(ctx, rt, "deleting Keycloak client "+id, err)
		}
	}
	first := ""
	if len(recorded) > 0 {
		first = recorded[0]
	}
	if err := r.Registrar.Delete(ctx, Agent{Namespace: rt.Namespace, Workload: workload, ClientID: first}); err != nil {
		return r.cleanupFailed(ctx, rt, "deleting Keycloak client scope "+agentid.AudienceScopeName(rt.Namespace, workload), err)
	}
	// envtest and clusters whose GC is slow would keep the Secret as long as the
	// workload lives; the credentials of a deleted client are of no use to anyone.
	name := agentid.CredentialsSecretName(r.family(), rt.Namespace, workload)
	s := &corev1.Secret{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: rt.Namespace, Name: name}, s)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	case s.Labels[LabelManagedBy] == ManagedBy:
		if err := r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	for _, id := range recorded {
		r.event(rt, corev1.EventTypeNormal, "ClientDeleted", "Deleted Keycloak client %s and Secret %s", id, name)
	}
	if err := r.patchRecord(ctx, rt, false, nil); err != nil {
		return err
	}
	if deleting {
		return nil
	}
	return r.dropCondition(ctx, rt)
}

func (r *Reconciler) cleanupFailed(ctx context.Context, rt *agentv1.AgentRuntime, what string, err error) error {
	reason := ReasonOf(err)
	if reason == ReasonRegistrationFailed {
		reason = ReasonCleanupFailed
	}
	msg := fmt.Sprintf("%s failed, retrying with backoff: %v", what, err)
	if cerr := r.condition(ctx, rt, metav1.ConditionFalse, reason, msg); cerr != nil {
		log.FromContext(ctx).Error(cerr, "writing the ClientRegistered condition")
	}
	return err
}

// recordedClientIDs reads the AnnotationClientIDs list.
func recordedClientIDs(rt *agentv1.AgentRuntime) []string {
	return strings.Fields(rt.GetAnnotations()[AnnotationClientIDs])
}

// patchRecord sets (or, with keep false, removes) the finalizer and the list of
// registered client IDs. The patch carries the resourceVersion: it never overwrites a
// change it has not seen.
func (r *Reconciler) patchRecord(ctx context.Context, rt *agentv1.AgentRuntime, keep bool, ids []string) error {
	before := rt.DeepCopy()
	ann := maps.Clone(rt.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	if keep {
		controllerutil.AddFinalizer(rt, Finalizer)
		ann[AnnotationClientIDs] = strings.Join(slices.Compact(ids), " ")
	} else {
		controllerutil.RemoveFinalizer(rt, Finalizer)
		delete(ann, AnnotationClientIDs)
	}
	rt.SetAnnotations(ann)
	f := r.family()
	return r.Client.Patch(ctx, kinds.AgentRuntimeOf(f, rt), client.MergeFromWithOptions(kinds.AgentRuntimeOf(f, before), client.MergeFromWithOptimisticLock{}))
}

// target is an agent's workload.
type target struct {
	apiVersion, kind, name string
	uid                    types.UID
	template               corev1.PodTemplateSpec
}

var errUnsupportedKind = errors.New("unsupported workload kind")

func (r *Reconciler) target(ctx context.Context, rt *agentv1.AgentRuntime) (*target, error) {
	ref := rt.Spec.TargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: spec.targetRef.apiVersion %q: %v", errUnsupportedKind, ref.APIVersion, err)
	}
	key := types.NamespacedName{Namespace: rt.Namespace, Name: ref.Name}
	t := &target{apiVersion: ref.APIVersion, kind: ref.Kind, name: ref.Name}
	switch {
	case gv.Group == "apps" && ref.Kind == "Deployment":
		d := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, key, d); err != nil {
			return nil, err
		}
		t.apiVersion, t.uid, t.template = "apps/v1", d.UID, d.Spec.Template
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		s := &appsv1.StatefulSet{}
		if err := r.Client.Get(ctx, key, s); err != nil {
			return nil, err
		}
		t.apiVersion, t.uid, t.template = "apps/v1", s.UID, s.Spec.Template
	case gv.Group == "agents.x-k8s.io" && ref.Kind == "Sandbox":
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(ref.APIVersion)
		u.SetKind(ref.Kind)
		if err := r.Reader.Get(ctx, key, u); err != nil {
			if meta.IsNoMatchError(err) {
				return nil, fmt.Errorf("%w: the Sandbox CRD is not installed", errUnsupportedKind)
			}
			return nil, err
		}
		raw, _, _ := unstructured.NestedMap(u.Object, "spec", "podTemplate")
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &t.template); err != nil {
			return nil, fmt.Errorf("Sandbox %s/%s: spec.podTemplate: %w", rt.Namespace, ref.Name, err)
		}
		t.uid = u.GetUID()
	default:
		return nil, fmt.Errorf("%w: %s %s; supported: Deployment and StatefulSet (apps), Sandbox (agents.x-k8s.io)", errUnsupportedKind, ref.APIVersion, ref.Kind)
	}
	if t.template.Spec.ServiceAccountName == "" {
		t.template.Spec.ServiceAccountName = t.template.Spec.DeprecatedServiceAccount
	}
	return t, nil
}

// writeSecret creates or corrects the credentials Secret, owned by the workload so it
// goes with it.
func (r *Reconciler) writeSecret(ctx context.Context, rt *agentv1.AgentRuntime, w *target, name string, reg *Registration) error {
	data := map[string][]byte{
		agentid.SecretKeyClientID:     []byte(reg.ClientID),
		agentid.SecretKeyClientSecret: []byte(reg.ClientSecret),
	}
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelAgentRuntime: rt.Name, LabelAgentRuntimeNamespace: rt.Namespace}
	yes := true
	owner := metav1.OwnerReference{APIVersion: w.apiVersion, Kind: w.kind, Name: w.name, UID: w.uid, Controller: &yes}

	s := &corev1.Secret{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: rt.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rt.Namespace, Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		return r.Client.Create(ctx, s)
	}
	if err != nil {
		return err
	}
	changed := false
	if !maps.EqualFunc(s.Data, data, func(a, b []byte) bool { return string(a) == string(b) }) {
		s.Data, changed = data, true
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	for k, v := range labels {
		if s.Labels[k] != v {
			s.Labels[k], changed = v, true
		}
	}
	// One controller owner: the workload as it is now (a recreated workload has a new UID).
	refs := []metav1.OwnerReference{owner}
	for _, o := range s.OwnerReferences {
		if (o.Controller == nil || !*o.Controller) && o.UID != w.uid {
			refs = append(refs, o)
		}
	}
	if !slices.EqualFunc(refs, s.OwnerReferences, func(a, b metav1.OwnerReference) bool {
		return a.UID == b.UID && a.Kind == b.Kind && a.Name == b.Name && a.APIVersion == b.APIVersion && (a.Controller != nil && *a.Controller) == (b.Controller != nil && *b.Controller)
	}) {
		s.OwnerReferences, changed = refs, true
	}
	if !changed {
		return nil
	}
	return r.Client.Update(ctx, s)
}

// condition server-side applies the ClientRegistered condition with the controller's
// own field owner, so other controllers' conditions on the AgentRuntime stay theirs. It
// writes nothing when the condition is unchanged, and emits a Warning event when it
// turns False.
func (r *Reconciler) condition(ctx context.Context, rt *agentv1.AgentRuntime, status metav1.ConditionStatus, reason, msg string) error {
	c := metav1.Condition{
		Type: ConditionClientRegistered, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: rt.Generation, LastTransitionTime: metav1.Now(),
	}
	old := meta.FindStatusCondition(rt.Status.Conditions, ConditionClientRegistered)
	if old != nil {
		if old.Status == status && old.Reason == reason && old.Message == msg && old.ObservedGeneration == rt.Generation {
			return nil
		}
		if old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	if status == metav1.ConditionFalse && (old == nil || old.Status != status || old.Reason != reason) {
		r.event(rt, corev1.EventTypeWarning, reason, "%s", msg)
	}
	cm, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
	if err != nil {
		return err
	}
	u := r.applyObject(rt)
	u.Object["status"] = map[string]any{"conditions": []any{cm}}
	if err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	meta.SetStatusCondition(&rt.Status.Conditions, c)
	return nil
}

// dropCondition gives up the controller's condition (the agent gets no client).
func (r *Reconciler) dropCondition(ctx context.Context, rt *agentv1.AgentRuntime) error {
	if meta.FindStatusCondition(rt.Status.Conditions, ConditionClientRegistered) == nil {
		return nil
	}
	err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(r.applyObject(rt)), client.FieldOwner(FieldOwner), client.ForceOwnership)
	return client.IgnoreNotFound(err)
}

func (r *Reconciler) applyObject(rt *agentv1.AgentRuntime) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(r.family().APIVersion())
	u.SetKind(agentv1.AgentRuntimeKind)
	u.SetNamespace(rt.Namespace)
	u.SetName(rt.Name)
	return u
}

func (r *Reconciler) event(rt *agentv1.AgentRuntime, eventtype, reason, format string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(kinds.AgentRuntimeOf(r.family(), rt), nil, eventtype, reason, "RegisterClient", format, args...)
	}
}
