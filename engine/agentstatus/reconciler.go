package agentstatus

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/spire"
)

// FieldOwner is the server-side apply field manager of the conditions this package owns.
const FieldOwner = "trustsync-agentstatus"

// targetIndex indexes AgentRuntimes by the Key of the workload they target.
const targetIndex = "agentstatus.spec.targetRef"

// Platform gives the platform configuration agents are resolved with.
type Platform interface {
	Platform(ctx context.Context) (*gitopsv1.Platform, error)
}

// StaticPlatform is a Platform that never changes: the engine's platform file.
type StaticPlatform struct{ P *gitopsv1.Platform }

func (s StaticPlatform) Platform(context.Context) (*gitopsv1.Platform, error) { return s.P, nil }

// ControllerName names the controller in logs and metrics.
const ControllerName = "agentstatus"

// Options tune the controller; zero fields take DefaultOptions'.
type Options struct {
	// TargetRetry is how soon an AgentRuntime whose workload is missing is looked at
	// again, besides the watch on workloads. Default 30s, as Kagenti.
	TargetRetry time.Duration
	// MaxConcurrentReconciles of AgentRuntimes. Default 2.
	MaxConcurrentReconciles int
}

// Reconciler writes the status conditions of AgentRuntimes.
type Reconciler struct {
	// Client writes the status; its reads are not used.
	Client client.Client
	// Platform the agents are resolved with.
	Platform Platform
	// Events records condition changes; nil for none.
	Events events.EventRecorder
	// APIReader reads workloads of kinds the cache does not watch (Sandbox); nil to
	// report them unsupported.
	APIReader client.Reader
	Options   Options
	// Family of the AgentRuntimes it reconciles (one Reconciler per family the platform
	// reads); Kagenti when unset.
	Family agentv1.Family

	// cache is the controller's own, built in SetupWithManager.
	cache cache.Cache
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options {
	return Options{TargetRetry: 30 * time.Second, MaxConcurrentReconciles: 2}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.TargetRetry <= 0 {
		o.TargetRetry = d.TargetRetry
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
}

// NewCache builds the cache the controller reads through: every AgentRuntime of the
// family, Namespace, Deployment and StatefulSet (without managedFields), only the pods of
// the family's agents and tools (label kagenti.io/type or rossoctl.io/type, which the
// renderer puts on their pod templates), and of ConfigMaps and CSIDrivers only the two it
// needs, so it never holds the cluster's ConfigMaps or pods.
func NewCache(mgr ctrl.Manager, f agentv1.Family) (cache.Cache, error) {
	agentPods, err := labels.NewRequirement(f.LabelType(), selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	return cache.New(mgr.GetConfig(), cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}:      {Field: fields.OneTermEqualSelector("metadata.name", agentv1.ConfigMapAuthBridgeRuntimeConfig)},
			&storagev1.CSIDriver{}:   {Field: fields.OneTermEqualSelector("metadata.name", identity.CSIDriver)},
			&appsv1.Deployment{}:     {},
			&appsv1.StatefulSet{}:    {},
			kinds.NewAgentRuntime(f): {},
			&corev1.Namespace{}:      {},
			&corev1.Pod{}:            {Label: labels.NewSelector().Add(*agentPods)},
		},
	})
}

// SetupWithManager builds the controller's cache, adds it to the manager and registers
// the controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	r.Family = cmp.Or(r.Family, agentv1.Kagenti)
	if r.Platform == nil {
		return fmt.Errorf("agentstatus: a Platform is required")
	}
	c, err := NewCache(mgr, r.Family)
	if err != nil {
		return fmt.Errorf("agentstatus: building the cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	r.cache = c
	if err := c.IndexField(ctx, kinds.NewAgentRuntime(r.Family), targetIndex, func(o client.Object) []string {
		return []string{agentid.TargetOf(kinds.AgentRuntime(o)).Key()}
	}); err != nil {
		return err
	}

	inNamespace := func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.agents(ctx, client.InNamespace(o.GetNamespace()))
	}
	ofNamespace := func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.agents(ctx, client.InNamespace(o.GetName()))
	}
	all := func(ctx context.Context, _ client.Object) []reconcile.Request { return r.agents(ctx) }
	workload := func(kind string) handler.TypedMapFunc[client.Object, reconcile.Request] {
		return func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.agents(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{targetIndex: agentid.Workload{Group: "apps", Kind: kind, Name: o.GetName()}.Key()})
		}
	}
	// Only what a condition depends on: a workload's spec (its pod template), a
	// namespace's labels and annotations, a ConfigMap's data. Status churn is ignored.
	metaChanged := predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	watch := func(obj client.Object, fn handler.TypedMapFunc[client.Object, reconcile.Request], preds ...predicate.Predicate) source.TypedSource[reconcile.Request] {
		return source.Kind(c, obj, handler.EnqueueRequestsFromMapFunc(fn), preds...)
	}
	podChanged := podChanged(r.Family)
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.Family.ControllerName(ControllerName)).
		WatchesRawSource(source.Kind(c, client.Object(kinds.NewAgentRuntime(r.Family)), &handler.EnqueueRequestForObject{}, predicate.GenerationChangedPredicate{})).
		WatchesRawSource(watch(&appsv1.Deployment{}, workload("Deployment"), predicate.GenerationChangedPredicate{})).
		WatchesRawSource(watch(&appsv1.StatefulSet{}, workload("StatefulSet"), predicate.GenerationChangedPredicate{})).
		WatchesRawSource(watch(&corev1.Namespace{}, ofNamespace, metaChanged)).
		WatchesRawSource(watch(&corev1.ConfigMap{}, inNamespace)).
		WatchesRawSource(watch(&storagev1.CSIDriver{}, all)).
		WatchesRawSource(watch(&corev1.Pod{}, r.agentsOfPod, podChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// agents lists the AgentRuntimes a change concerns.
func (r *Reconciler) agents(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := kinds.NewAgentRuntimeList(r.Family)
	if err := r.cache.List(ctx, list.(client.ObjectList), opts...); err != nil {
		log.FromContext(ctx).Error(err, "listing AgentRuntimes", "group", r.Family.Group)
		return nil
	}
	return ctrlkit.Requests(kinds.AgentRuntimes(list))
}

// agentsOfPod maps a pod to the AgentRuntime of its workload, found from its controller as
// the webhook finds it: a ReplicaSet stands for its Deployment, named as the ReplicaSet
// minus the pod-template-hash suffix, so no ReplicaSet is read or cached.
func (r *Reconciler) agentsOfPod(ctx context.Context, o client.Object) []reconcile.Request {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		group, _, _ := strings.Cut(ref.APIVersion, "/")
		kind, name := ref.Kind, ref.Name
		if group == "apps" && kind == "ReplicaSet" {
			hash := o.GetLabels()["pod-template-hash"]
			if hash == "" || !strings.HasSuffix(name, "-"+hash) {
				return nil
			}
			kind, name = "Deployment", strings.TrimSuffix(name, "-"+hash)
		}
		return r.agents(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{targetIndex: agentid.Workload{Group: group, Kind: kind, Name: name}.Key()})
	}
	return nil
}

// podChanged passes the pod changes that can change the count of configured pods.
func podChanged(f agentv1.Family) predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*corev1.Pod)
			n, ok2 := e.ObjectNew.(*corev1.Pod)
			if !ok1 || !ok2 {
				return true
			}
			return o.Status.Phase != n.Status.Phase || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
				o.Annotations[f.AnnotationConfigHash()] != n.Annotations[f.AnnotationConfigHash()]
		},
	}
}

// Reconcile evaluates one AgentRuntime and applies its conditions when they changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := kinds.NewAgentRuntime(r.Family)
	if err := r.cache.Get(ctx, req.NamespacedName, obj.(client.Object)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	rt := kinds.AgentRuntime(obj)
	if !rt.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	o, err := r.observe(ctx, rt)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.apply(ctx, rt, evaluate(o)); err != nil {
		return ctrl.Result{}, err
	}
	if !o.Target.Found || o.Target.Unsupported != "" {
		return ctrl.Result{RequeueAfter: r.Options.TargetRetry}, nil
	}
	return ctrl.Result{}, nil
}

// observe reads what the conditions depend on. Only a failure to read is an error; what
// is missing is an observation.
func (r *Reconciler) observe(ctx context.Context, rt *agentv1.AgentRuntime) (observed, error) {
	o := observed{Family: r.Family, Runtime: rt}
	var err error
	if o.Target, err = r.target(ctx, rt); err != nil {
		return o, err
	}
	ns := &corev1.Namespace{}
	switch err := r.cache.Get(ctx, types.NamespacedName{Name: rt.Namespace}, ns); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return o, err
	default:
		o.Namespace = ns
	}
	cm := &corev1.ConfigMap{}
	switch err := r.cache.Get(ctx, types.NamespacedName{Namespace: rt.Namespace, Name: agentv1.ConfigMapAuthBridgeRuntimeConfig}, cm); {
	case apierrors.IsNotFound(err):
		o.RuntimeMissing = true
	case err != nil:
		return o, err
	default:
		o.NamespaceRuntime, o.RuntimeErr = authbridge.ParseRuntimeConfig(cm.Data[agentv1.KeyConfigYAML])
	}
	o.Platform, o.PlatformErr = r.Platform.Platform(ctx)
	if o.SPIREPresent, err = spire.Present(ctx, r.cache); err != nil {
		return o, err
	}
	return o, nil
}

var sandboxGVK = schema.GroupVersionKind{Group: "agents.x-k8s.io", Version: "v1alpha1", Kind: "Sandbox"}

// target reads the workload: Deployments and StatefulSets from the cache, a Sandbox
// live (its CRD may be absent, and a watch on a missing kind would never start).
func (r *Reconciler) target(ctx context.Context, rt *agentv1.AgentRuntime) (target, error) {
	ref := rt.Spec.TargetRef
	t := target{Ref: ref.Kind + " " + rt.Namespace + "/" + ref.Name}
	key := types.NamespacedName{Namespace: rt.Namespace, Name: ref.Name}
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	var tmpl *corev1.PodTemplateSpec
	var selector *metav1.LabelSelector
	switch {
	case group == "apps" && ref.Kind == "Deployment":
		d := &appsv1.Deployment{}
		err := r.cache.Get(ctx, key, d)
		if apierrors.IsNotFound(err) {
			return t, nil
		} else if err != nil {
			return t, err
		}
		tmpl, selector = &d.Spec.Template, d.Spec.Selector
	case group == "apps" && ref.Kind == "StatefulSet":
		s := &appsv1.StatefulSet{}
		err := r.cache.Get(ctx, key, s)
		if apierrors.IsNotFound(err) {
			return t, nil
		} else if err != nil {
			return t, err
		}
		tmpl, selector = &s.Spec.Template, s.Spec.Selector
	case group == sandboxGVK.Group && ref.Kind == sandboxGVK.Kind && r.APIReader != nil:
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind))
		err := r.APIReader.Get(ctx, key, u)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return t, nil
		} else if err != nil {
			return t, err
		}
		raw, _, _ := unstructured.NestedMap(u.Object, "spec", "podTemplate")
		tmpl = &corev1.PodTemplateSpec{}
		data, _ := json.Marshal(raw)
		if err := json.Unmarshal(data, tmpl); err != nil {
			return t, fmt.Errorf("%s: spec.podTemplate: %w", t.Ref, err)
		}
	default:
		t.Unsupported = fmt.Sprintf("targetRef %s %s is not a workload trustsync reads; supported: apps/v1 Deployment, apps/v1 StatefulSet, %s Sandbox", ref.APIVersion, ref.Kind, sandboxGVK.GroupVersion())
		return t, nil
	}
	t.Found = true
	t.PodLabels, t.PodAnnotations = tmpl.Labels, tmpl.Annotations
	if selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil || sel.Empty() {
			return t, nil // an invalid or empty selector selects nothing of its own
		}
		var pods corev1.PodList
		if err := r.cache.List(ctx, &pods, client.InNamespace(rt.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return t, err
		}
		t.Pods = pods.Items
	}
	return t, nil
}

// apply writes the conditions that changed, keeping the transition time of those whose
// status did not, and records an event for each condition that changed state. Nothing is
// written when nothing changed.
func (r *Reconciler) apply(ctx context.Context, rt *agentv1.AgentRuntime, ev evaluation) error {
	desired := ev.Conditions
	changed := rt.Status.ObservedGeneration != rt.Generation || rt.Status.ConfiguredPods != ev.ConfiguredPods
	now := metav1.Now()
	var transitions []metav1.Condition
	for i := range desired {
		d := &desired[i]
		prev := meta.FindStatusCondition(rt.Status.Conditions, d.Type)
		switch {
		case prev == nil:
			d.LastTransitionTime = now
			changed = true
			transitions = append(transitions, *d)
			continue
		case prev.Status != d.Status:
			d.LastTransitionTime = now
		default:
			d.LastTransitionTime = prev.LastTransitionTime
		}
		if prev.Status != d.Status || prev.Reason != d.Reason {
			transitions = append(transitions, *d)
			changed = true
		} else if prev.Message != d.Message || prev.ObservedGeneration != d.ObservedGeneration {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": r.Family.APIVersion(),
		"kind":       agentv1.AgentRuntimeKind,
		"metadata":   map[string]any{"name": rt.Name, "namespace": rt.Namespace},
	}}
	conds := make([]any, 0, len(desired))
	for _, c := range desired {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
		if err != nil {
			return err
		}
		conds = append(conds, m)
	}
	u.Object["status"] = map[string]any{"observedGeneration": rt.Generation, "configuredPods": int64(ev.ConfiguredPods), "conditions": conds}
	if err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile
		}
		return fmt.Errorf("applying the status of AgentRuntime %s/%s: %w", rt.Namespace, rt.Name, err)
	}
	r.record(rt, transitions)
	return nil
}

// record turns condition changes into events: a Warning for every problem, a Normal for
// Ready becoming True (Kagenti's Configured) and for a problem that cleared. Ready's own
// failures repeat the condition that caused them and are not recorded twice.
func (r *Reconciler) record(rt *agentv1.AgentRuntime, transitions []metav1.Condition) {
	if r.Events == nil {
		return
	}
	var warned []string
	for _, c := range transitions {
		prev := meta.FindStatusCondition(rt.Status.Conditions, c.Type)
		switch {
		case bad(c) && c.Status == metav1.ConditionUnknown:
			// A consequence of another condition, which is recorded itself.
		case bad(c) && c.Type == agentv1.ConditionReady && slices.Contains(warned, c.Reason):
		case bad(c):
			warned = append(warned, c.Reason)
			r.Events.Eventf(kinds.AgentRuntimeOf(r.Family, rt), nil, corev1.EventTypeWarning, c.Reason, "Observe", "%s=%s: %s", c.Type, c.Status, c.Message)
		case c.Type == agentv1.ConditionReady:
			r.Events.Eventf(kinds.AgentRuntimeOf(r.Family, rt), nil, corev1.EventTypeNormal, ReasonConfigured, "Observe", "%s", c.Message)
		case c.Reason == ReasonConfigWarning:
			r.Events.Eventf(kinds.AgentRuntimeOf(r.Family, rt), nil, corev1.EventTypeWarning, ReasonConfigWarning, "Observe", "%s", c.Message)
		case prev != nil && bad(*prev):
			r.Events.Eventf(kinds.AgentRuntimeOf(r.Family, rt), nil, corev1.EventTypeNormal, c.Reason, "Observe", "%s=%s: %s", c.Type, c.Status, c.Message)
		}
	}
}
