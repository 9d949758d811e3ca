package agentcard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// FieldOwner is the field manager of the AgentCard status this controller applies.
const FieldOwner = "trustsync-agentcard"

// Condition types of AgentCard (kagenti-facts §1.2).
const (
	ConditionSynced            = "Synced"
	ConditionReady             = "Ready"
	ConditionVerified          = "Verified"
	ConditionSignatureVerified = "SignatureVerified"
	ConditionBound             = "Bound"
)

// Condition reasons of AgentCard.
const (
	ReasonSyncSucceeded    = "SyncSucceeded"
	ReasonWorkloadNotFound = "WorkloadNotFound"
	ReasonNotAgentWorkload = "NotAgentWorkload"
	ReasonWorkloadError    = "WorkloadError"
	ReasonServiceNotFound  = "ServiceNotFound"
	ReasonFetchFailed      = "FetchFailed"

	ReasonReadyToServe       = "ReadyToServe"
	ReasonVerificationFailed = "VerificationFailed"
	ReasonSyncFailed         = "SyncFailed"

	ReasonSignatureVerified = "SignatureVerified" // Verified
	ReasonNotVerified       = "NotVerified"       // Verified
	ReasonSignatureValid    = "SignatureValid"    // SignatureVerified
	ReasonSignatureInvalid  = "SignatureInvalid"  // Verified, SignatureVerified
	// ReasonTrustBundleUnavailable (SignatureVerified Unknown) is trustsync's: without a
	// bundle nothing can be said about the signature, which is not the agent's fault.
	ReasonTrustBundleUnavailable = "TrustBundleUnavailable"

	ReasonBound         = "Bound"
	ReasonNotBound      = "NotBound"
	ReasonAgentNotFound = "AgentNotFound"
)

// Service port names the card is fetched from, in order of preference; otherwise the
// Service's first port.
const (
	PortAgentTLS = "agent-tls"
	PortHTTP     = "http"
)

// ControllerName names the controller in logs and metrics; Kagenti's instance, the
// others' have their family's name appended.
const ControllerName = "agentcard"

// DefaultSyncPeriod is used when spec.syncPeriod is empty or unreadable.
const DefaultSyncPeriod = 30 * time.Second

// Options configure the AgentCard controller. The zero value is usable.
type Options struct {
	// TrustDomain is the platform's, for the identity binding of cards whose
	// spec.identityBinding names none.
	TrustDomain string
	// PortNames are the Service ports to fetch from, by preference;
	// [agent-tls, http] when nil. Without an mTLS client in the fetcher, drop agent-tls.
	PortNames []string
	// FieldOwner of the status; FieldOwner when empty.
	FieldOwner string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reconciler fetches each AgentCard's card from its agent, verifies the signature and
// writes the status.
type Reconciler struct {
	// Client reads workloads and Services and applies the status.
	Client client.Client
	// Fetcher gets the card; an HTTPFetcher with its defaults when nil.
	Fetcher CardFetcher
	// Bundles gives the trust bundles; required.
	Bundles TrustBundleSource
	Options Options
	// Family is the family of the workloads' labels (kagenti.io/type,
	// protocol.kagenti.io/<proto>); Kagenti when unset.
	Family agentv1.Family

	once sync.Once
}

func (r *Reconciler) defaults() { r.once.Do(r.setDefaults) }

// DefaultOptions are the controller's defaults: agent-tls then http ports, the
// package's field owner, the wall clock.
func DefaultOptions() Options {
	return Options{PortNames: []string{PortAgentTLS, PortHTTP}, FieldOwner: FieldOwner, Now: time.Now}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.PortNames == nil {
		o.PortNames = d.PortNames
	}
	if o.FieldOwner == "" {
		o.FieldOwner = d.FieldOwner
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

func (r *Reconciler) setDefaults() {
	r.Options.defaults()
	r.Family = cmp.Or(r.Family, agentv1.Kagenti)
	if r.Fetcher == nil {
		r.Fetcher = &HTTPFetcher{}
	}
	if r.Bundles == nil {
		r.Bundles = StaticTrustBundle{} // every verification then says why
	}
}

// SetupWithManager registers the controller. Only spec changes trigger a reconcile: the
// status it writes itself (lastSyncTime changes every time) must not, and the card is
// re-fetched every sync period anyway.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Bundles == nil {
		return errors.New("agentcard: no trust bundle source")
	}
	r.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.Family.ControllerName(ControllerName)).
		For(kinds.NewAgentCard(r.Family), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.defaults()
	obj := kinds.NewAgentCard(r.Family)
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	card := kinds.AgentCard(obj)
	period := syncPeriod(card.Spec.SyncPeriod)
	st := r.sync(ctx, card)
	if err := r.applyStatus(ctx, card, st); err != nil {
		return ctrl.Result{}, fmt.Errorf("AgentCard %s/%s: applying the status: %w", card.Namespace, card.Name, err)
	}
	return ctrl.Result{RequeueAfter: period}, nil
}

func syncPeriod(s string) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d >= time.Second {
		return d
	}
	return DefaultSyncPeriod
}

// statusBuilder collects the status of one sync; conditions keep their transition time
// when their status does not change.
type statusBuilder struct {
	card   *agentv1.AgentCard
	now    metav1.Time
	status agentv1.AgentCardStatus
	conds  []metav1.Condition
}

func (b *statusBuilder) set(typ string, status metav1.ConditionStatus, reason, format string, args ...any) {
	c := metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            fmt.Sprintf(format, args...),
		ObservedGeneration: b.card.Generation,
		LastTransitionTime: b.now,
	}
	if old := meta.FindStatusCondition(b.card.Status.Conditions, typ); old != nil && old.Status == status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	b.conds = append(b.conds, c)
}

// sync does one pass and returns the status to apply.
func (r *Reconciler) sync(ctx context.Context, card *agentv1.AgentCard) *statusBuilder {
	b := &statusBuilder{card: card, now: metav1.NewTime(r.Options.Now().Truncate(time.Second))}
	ref := card.Spec.TargetRef
	b.status.TargetRef = &ref
	binding := card.Spec.IdentityBinding

	syncFailed := func(reason, format string, args ...any) *statusBuilder {
		msg := fmt.Sprintf(format, args...)
		b.set(ConditionSynced, metav1.ConditionFalse, reason, "%s", msg)
		b.set(ConditionReady, metav1.ConditionFalse, ReasonSyncFailed, "%s", msg)
		b.set(ConditionVerified, metav1.ConditionFalse, ReasonNotVerified, "no card fetched")
		if binding != nil {
			if reason == ReasonWorkloadNotFound {
				b.set(ConditionBound, metav1.ConditionFalse, ReasonAgentNotFound, "%s", msg)
			} else {
				b.set(ConditionBound, metav1.ConditionFalse, ReasonNotBound, "no card fetched")
			}
		}
		return b
	}

	w, reason, err := r.workload(ctx, card)
	if err != nil {
		return syncFailed(reason, "%v", err)
	}
	if proto := protocol(r.Family, w); proto != "" {
		b.status.Protocol = proto
	}
	ep, err := r.endpoint(ctx, w)
	if err != nil {
		return syncFailed(ReasonServiceNotFound, "%v", err)
	}
	raw, err := r.Fetcher.FetchCard(ctx, ep)
	if err != nil {
		return syncFailed(ReasonFetchFailed, "fetching the card from %s: %v", ep, err)
	}
	id, err := CardID(raw)
	if err != nil {
		return syncFailed(ReasonFetchFailed, "the card from %s: %v", ep, err)
	}
	var data agentv1.AgentCardData
	if err := json.Unmarshal(raw, &data); err != nil {
		return syncFailed(ReasonFetchFailed, "the card from %s is not an A2A agent card: %v", ep, err)
	}
	b.status.Card = &data
	b.status.CardID = id
	b.status.LastSyncTime = &b.now
	b.set(ConditionSynced, metav1.ConditionTrue, ReasonSyncSucceeded, "fetched the card from %s", ep)

	bindTD := r.Options.TrustDomain
	if binding != nil && binding.TrustDomain != "" {
		bindTD = binding.TrustDomain
	}
	var expected spiffeid.ID
	if td, err := spiffeid.TrustDomainFromString(bindTD); err == nil && bindTD != "" {
		if e, err := spiffeid.FromSegments(td, "ns", card.Namespace, "sa", serviceAccount(w)); err == nil {
			expected = e
			b.status.ExpectedSpiffeID = e.String()
		}
	}

	bundles, err := r.Bundles.TrustBundle(ctx)
	if err != nil {
		msg := fmt.Sprintf("trust bundle unavailable: %v", err)
		b.status.SignatureVerificationDetails = msg
		b.set(ConditionSignatureVerified, metav1.ConditionUnknown, ReasonTrustBundleUnavailable, "%s", msg)
		b.set(ConditionVerified, metav1.ConditionFalse, ReasonNotVerified, "%s", msg)
		b.set(ConditionReady, metav1.ConditionFalse, ReasonVerificationFailed, "%s", msg)
		if binding != nil {
			b.set(ConditionBound, metav1.ConditionFalse, ReasonNotBound, "signature not verified: %s", msg)
		}
		return b
	}
	res, verr := Verify(raw, bundles, VerifyOptions{Now: b.now.Time})
	valid := verr == nil
	b.status.ValidSignature = &valid
	if !valid {
		b.status.SignatureVerificationDetails = verr.Error()
		b.set(ConditionSignatureVerified, metav1.ConditionFalse, ReasonSignatureInvalid, "%v", verr)
		b.set(ConditionVerified, metav1.ConditionFalse, ReasonSignatureInvalid, "%v", verr)
		b.set(ConditionReady, metav1.ConditionFalse, ReasonVerificationFailed, "card signature rejected: %v", verr)
		if binding != nil {
			b.bindingStatus(false, ReasonNotBound, "signature not verified")
		}
		return b
	}
	b.status.SignatureSpiffeID = res.SPIFFEID.String()
	b.status.SignatureKeyID = res.KeyID
	b.status.SignatureVerificationDetails = fmt.Sprintf("%s signature by %s (kid %s) chains to the trust bundle of %s; leaf valid until %s",
		res.Algorithm, res.SPIFFEID, res.KeyID, res.SPIFFEID.TrustDomain(), res.NotAfter.UTC().Format(time.RFC3339))
	b.set(ConditionSignatureVerified, metav1.ConditionTrue, ReasonSignatureValid, "signed by %s", res.SPIFFEID)
	b.set(ConditionVerified, metav1.ConditionTrue, ReasonSignatureVerified, "signed by %s", res.SPIFFEID)
	if !expected.IsZero() {
		match := res.SPIFFEID == expected
		b.status.SignatureIdentityMatch = &match
	}

	ready := true
	if binding != nil {
		switch {
		case bindTD == "":
			ready = !binding.Strict
			b.bindingStatus(false, ReasonNotBound, "no trust domain to bind to: set spec.identityBinding.trustDomain or the platform's")
		case !res.SPIFFEID.MemberOf(spiffeid.RequireTrustDomainFromString(bindTD)):
			ready = !binding.Strict
			b.bindingStatus(false, ReasonNotBound, fmt.Sprintf("signer %s is not in trust domain %s", res.SPIFFEID, bindTD))
		// Cards are public: another workload of the trust domain could serve this one's
		// signed card as its own. Where the workload's identity is known, the signer must
		// be it (the reference only checks the trust domain).
		case !expected.IsZero() && res.SPIFFEID != expected:
			ready = !binding.Strict
			b.bindingStatus(false, ReasonNotBound, fmt.Sprintf("signer %s is not the workload's identity %s", res.SPIFFEID, expected))
		default:
			b.bindingStatus(true, ReasonBound, fmt.Sprintf("signer %s is the workload's identity, in trust domain %s", res.SPIFFEID, bindTD))
		}
	}
	if ready {
		b.set(ConditionReady, metav1.ConditionTrue, ReasonReadyToServe, "card signed by %s", res.SPIFFEID)
	} else {
		b.set(ConditionReady, metav1.ConditionFalse, ReasonVerificationFailed, "strict identity binding failed: %s", b.status.BindingStatus.Message)
	}
	return b
}

func (b *statusBuilder) bindingStatus(bound bool, reason, msg string) {
	b.status.BindingStatus = &agentv1.BindingStatus{Bound: bound, Reason: reason, Message: msg, LastEvaluationTime: &b.now}
	status := metav1.ConditionFalse
	if bound {
		status = metav1.ConditionTrue
	}
	b.set(ConditionBound, status, reason, "%s", msg)
}

// workload reads the target workload and checks it is an agent.
func (r *Reconciler) workload(ctx context.Context, card *agentv1.AgentCard) (*unstructured.Unstructured, string, error) {
	ref := card.Spec.TargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, ReasonWorkloadError, fmt.Errorf("spec.targetRef.apiVersion %q: %v", ref.APIVersion, err)
	}
	w := &unstructured.Unstructured{}
	w.SetGroupVersionKind(gv.WithKind(ref.Kind))
	name := fmt.Sprintf("%s %s/%s", ref.Kind, card.Namespace, ref.Name)
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: card.Namespace, Name: ref.Name}, w)
	switch {
	case apierrors.IsNotFound(err):
		return nil, ReasonWorkloadNotFound, fmt.Errorf("spec.targetRef: %s not found", name)
	case meta.IsNoMatchError(err):
		return nil, ReasonWorkloadError, fmt.Errorf("spec.targetRef: the cluster has no kind %s in %s", ref.Kind, ref.APIVersion)
	case err != nil:
		return nil, ReasonWorkloadError, fmt.Errorf("spec.targetRef: reading %s: %v", name, err)
	}
	if got := w.GetLabels()[r.Family.LabelType()]; got != "agent" {
		return nil, ReasonNotAgentWorkload, fmt.Errorf("spec.targetRef: %s is labelled %s=%q, want %q", name, r.Family.LabelType(), got, "agent")
	}
	return w, "", nil
}

// podTemplatePath is where each workload kind keeps its pod template.
func podTemplatePath(kind string) []string {
	if kind == "Sandbox" {
		return []string{"spec", "podTemplate"}
	}
	return []string{"spec", "template"}
}

func templateLabels(w *unstructured.Unstructured) map[string]string {
	l, _, _ := unstructured.NestedStringMap(w.Object, append(podTemplatePath(w.GetKind()), "metadata", "labels")...)
	return l
}

func serviceAccount(w *unstructured.Unstructured) string {
	sa, _, _ := unstructured.NestedString(w.Object, append(podTemplatePath(w.GetKind()), "spec", "serviceAccountName")...)
	if sa == "" {
		return "default"
	}
	return sa
}

// protocol is the first protocol.<domain>/<proto> label of the workload.
func protocol(f agentv1.Family, w *unstructured.Unstructured) string {
	var protos []string
	for k := range w.GetLabels() {
		if p, ok := strings.CutPrefix(k, f.LabelProtocolPrefix()); ok && p != "" {
			protos = append(protos, p)
		}
	}
	slices.Sort(protos)
	if len(protos) == 0 {
		return ""
	}
	return protos[0]
}

// endpoint finds the agent's Service — the one named like the workload, else one whose
// selector matches the pod template — and the port to fetch from.
func (r *Reconciler) endpoint(ctx context.Context, w *unstructured.Unstructured) (Endpoint, error) {
	podLabels := labels.Set(templateLabels(w))
	var svc *corev1.Service
	byName := &corev1.Service{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: w.GetNamespace(), Name: w.GetName()}, byName)
	switch {
	case err == nil:
		svc = byName
	case !apierrors.IsNotFound(err):
		return Endpoint{}, fmt.Errorf("reading Service %s/%s: %v", w.GetNamespace(), w.GetName(), err)
	default:
		var list corev1.ServiceList
		if err := r.Client.List(ctx, &list, client.InNamespace(w.GetNamespace())); err != nil {
			return Endpoint{}, fmt.Errorf("listing Services in %s: %v", w.GetNamespace(), err)
		}
		slices.SortFunc(list.Items, func(a, b corev1.Service) int { return strings.Compare(a.Name, b.Name) })
		for i := range list.Items {
			sel := list.Items[i].Spec.Selector
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(podLabels) {
				svc = &list.Items[i]
				break
			}
		}
	}
	if svc == nil {
		return Endpoint{}, fmt.Errorf("no Service %s/%s and none whose selector matches the pod labels of %s %s", w.GetNamespace(), w.GetName(), w.GetKind(), w.GetName())
	}
	if len(svc.Spec.Ports) == 0 {
		return Endpoint{}, fmt.Errorf("Service %s/%s has no ports", svc.Namespace, svc.Name)
	}
	port := svc.Spec.Ports[0]
	for _, name := range r.Options.PortNames {
		if i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == name }); i >= 0 {
			port = svc.Spec.Ports[i]
			break
		}
	}
	return Endpoint{Namespace: svc.Namespace, Service: svc.Name, Port: port.Port, PortName: port.Name}, nil
}

// applyStatus applies the status with this controller's field owner: only the fields and
// condition types it sets, so other writers' conditions stay.
func (r *Reconciler) applyStatus(ctx context.Context, card *agentv1.AgentCard, b *statusBuilder) error {
	b.status.Conditions = b.conds
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&b.status)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetGroupVersionKind(r.Family.GroupVersion().WithKind(agentv1.AgentCardKind))
	u.SetNamespace(card.Namespace)
	u.SetName(card.Name)
	if err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(r.Options.FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	log.FromContext(ctx).V(1).Info("AgentCard synced", "valid", b.status.ValidSignature, "signer", b.status.SignatureSpiffeID)
	return nil
}
