package policystatus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/security/policy"
)

// Condition reasons of an AuthorizationPolicy's Ready condition.
const (
	ReasonBuilt         = "Built"
	ReasonCompileFailed = "CompileFailed"
	ReasonTestFailed    = "TestFailed"
	ReasonNotHonoured   = "NotHonoured"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "policystatus"

// Reconciler writes the status of every AuthorizationPolicy: the hash of its files, when
// that content was first built, and Ready, which says whether it compiles together with
// the rest of its tier and its Rego tests pass in the bundle of the identity it decides
// for. It reports; it does not decide: the bundle server builds from the policies
// themselves, falling back to the last good tier where they do not compile, and a policy
// whose tests fail but that compiles is served (tests gate revisions at render).
type Reconciler struct {
	// Client reads AuthorizationPolicies from the manager's cache.
	Client client.Client
	// PlatformNamespace is the only namespace global policies count in.
	PlatformNamespace string
	// Limits bound the policies' size, rules and tests; the Platform defaults where unset.
	Limits  gitopsv1.Limits
	Options Options
	// Family of the policies it writes the status of (one Reconciler per family the
	// platform reads); Kagenti when unset.
	Family agentv1.Family
	// Families whose policies make up the tiers, as in the bundles: the platform's;
	// Family alone when unset.
	Families []agentv1.Family
}

func (r *Reconciler) setDefaults() {
	r.Options.defaults()
	// Reconcile calls this too, beside the map functions reading Family: only an unset
	// field is written.
	if r.Family == (agentv1.Family{}) {
		r.Family = agentv1.Kagenti
	}
	if len(r.Families) == 0 {
		r.Families = []agentv1.Family{r.Family}
	}
}

// list is every policy of the families, or of one namespace.
func (r *Reconciler) list(ctx context.Context, opts ...client.ListOption) ([]*agentv1.AuthorizationPolicy, error) {
	return kinds.AuthorizationPoliciesOf(r.Families, func(l runtime.Object) error { return r.Client.List(ctx, l.(client.ObjectList), opts...) })
}

// Options tune the reconciler.
type Options struct {
	// MaxConcurrentReconciles is how many policies are checked at once; a check compiles
	// its tier and runs its tests, on the CPU. Default 1.
	MaxConcurrentReconciles int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options { return Options{MaxConcurrentReconciles: 1, Now: time.Now} }

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

// SetupWithManager registers the reconciler. A policy is checked again when it or a
// policy of its tier changes (any policy for a global change); status writes do not
// trigger it, since only spec changes bump the generation.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.setDefaults()
	b := ctrl.NewControllerManagedBy(mgr).
		Named(r.Family.ControllerName(ControllerName)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		For(kinds.NewAuthorizationPolicy(r.Family), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	// A policy of either family changes the tier of this family's policies.
	for _, f := range r.Families {
		b = b.Watches(kinds.NewAuthorizationPolicy(f), handler.EnqueueRequestsFromMapFunc(r.tierMates), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	return b.Complete(r)
}

// tierMates are the policies whose check depends on obj: its namespace's for a
// namespace policy, all for a global one (every test runs with the global tier).
func (r *Reconciler) tierMates(ctx context.Context, obj client.Object) []reconcile.Request {
	p := kinds.AuthorizationPolicy(obj)
	if p.EffectiveScope() == agentv1.ScopeClient {
		return nil
	}
	list := kinds.NewAuthorizationPolicyList(r.Family)
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if p.EffectiveScope() == agentv1.ScopeNamespace {
		opts = append(opts, client.InNamespace(p.Namespace))
	}
	if err := r.Client.List(ctx, list.(client.ObjectList), opts...); err != nil {
		return nil
	}
	return ctrlkit.Requests(kinds.AuthorizationPolicies(list))
}

// Reconcile checks one policy and writes its status when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.setDefaults()
	obj := kinds.NewAuthorizationPolicy(r.Family)
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := kinds.AuthorizationPolicy(obj)
	// The tier is only read, never written, so the cache's objects are used as they are:
	// a global change re-checks every policy, and copying all of them for each would be
	// quadratic.
	all, err := r.list(ctx, client.UnsafeDisableDeepCopy)
	if err != nil {
		return ctrl.Result{}, err
	}
	cond := r.check(ctx, p, all)

	before := p.DeepCopy()
	hash := policy.PolicyHash(p)
	if cond.Status == metav1.ConditionTrue && (p.Status.BundleHash != hash || p.Status.LastBuilt == nil) {
		p.Status.BundleHash = hash
		p.Status.LastBuilt = &metav1.Time{Time: r.now()}
	}
	p.Status.ObservedGeneration = p.Generation
	cond.ObservedGeneration = p.Generation
	meta.SetStatusCondition(&p.Status.Conditions, cond)
	return ctrlkit.FinishStatus(ctx, r.Client, kinds.AuthorizationPolicyOf(r.Family, p), kinds.AuthorizationPolicyOf(r.Family, before), 0)
}

// check is the Ready condition of p among all the cluster's policies: compiled with its
// tier (as the bundles combine them), then its tests run with its identity's bundle.
func (r *Reconciler) check(ctx context.Context, p *agentv1.AuthorizationPolicy, all []*agentv1.AuthorizationPolicy) metav1.Condition {
	ready := func(status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: agentv1.ConditionReady, Status: status, Reason: reason, Message: msg}
	}
	if p.EffectiveScope() == agentv1.ScopeGlobal && p.Namespace != r.PlatformNamespace {
		return ready(metav1.ConditionFalse, ReasonNotHonoured, fmt.Sprintf("global policies are honoured only in the platform namespace %s; this one is in no bundle", r.PlatformNamespace))
	}
	mates := tier(p, all, r.PlatformNamespace)
	if errs := policy.Check(mates, policy.CheckOptions{PlatformNamespace: r.PlatformNamespace, PartialGlobalTier: true, Limits: r.Limits}); len(errs) > 0 {
		var own []string
		for _, e := range errs {
			if e.Namespace == p.Namespace && e.Name == p.Name {
				own = append(own, e.Detail())
			}
		}
		if len(own) > 0 {
			return ready(metav1.ConditionFalse, ReasonCompileFailed, strings.Join(own, "; "))
		}
		return ready(metav1.ConditionFalse, ReasonCompileFailed, "does not compile with the rest of its tier: "+errs[0].Error())
	}
	// The bundle the server builds for the identity this policy decides for.
	set := policy.NewSet(r.PlatformNamespace, all)
	if _, err := policy.Build(set.TiersOf(p)); err != nil {
		return ready(metav1.ConditionFalse, ReasonCompileFailed, "its bundle does not compile: "+err.Error())
	}
	results, errs := policy.Test(ctx, set, []*agentv1.AuthorizationPolicy{p}, r.Limits)
	if len(errs) > 0 {
		return ready(metav1.ConditionFalse, ReasonCompileFailed, errs[0].Detail())
	}
	var failed []string
	for _, t := range results {
		if e := t.Err(); e != nil {
			failed = append(failed, e.Detail())
		}
	}
	if len(failed) > 0 {
		return ready(metav1.ConditionFalse, ReasonTestFailed, fmt.Sprintf("%d of %d tests failed: %s", len(failed), len(results), strings.Join(failed, "; ")))
	}
	msg := "compiled with its tier"
	if len(results) > 0 {
		msg += fmt.Sprintf("; %d tests passed", len(results))
	}
	return ready(metav1.ConditionTrue, ReasonBuilt, msg)
}

// tier is p with the policies it is compiled together with in a bundle: the other
// global policies of the platform namespace, or the other namespace policies of its
// namespace; a client policy stands alone.
func tier(p *agentv1.AuthorizationPolicy, all []*agentv1.AuthorizationPolicy, platformNamespace string) []*agentv1.AuthorizationPolicy {
	out := []*agentv1.AuthorizationPolicy{p}
	for _, q := range all {
		if q.Namespace == p.Namespace && q.Name == p.Name || q.EffectiveScope() != p.EffectiveScope() {
			continue
		}
		switch p.EffectiveScope() {
		case agentv1.ScopeGlobal:
			if q.Namespace == platformNamespace {
				out = append(out, q)
			}
		case agentv1.ScopeNamespace:
			if q.Namespace == p.Namespace {
				out = append(out, q)
			}
		}
	}
	return out
}

func (r *Reconciler) now() time.Time {
	if r.Options.Now != nil {
		return r.Options.Now()
	}
	return time.Now()
}
