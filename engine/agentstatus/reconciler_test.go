package agentstatus

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/security/identity"
)

var (
	env *testenv.Env
	rec *Reconciler
	// statusWrites counts the controller's writes of AgentRuntime status, by namespace.
	statusWrites = &writeCounter{counts: map[string]int{}}
)

// writeCounter counts PATCH requests to agentruntimes/status per namespace.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		parts := strings.Split(r.URL.Path, "/")
		// /apis/agent.kagenti.dev/v1alpha1/namespaces/<ns>/agentruntimes/<name>/status
		if r.Method == http.MethodPatch && len(parts) == 9 && parts[6] == "agentruntimes" && parts[8] == "status" {
			w.mu.Lock()
			w.counts[parts[5]]++
			w.mu.Unlock()
		}
		return next.RoundTrip(r)
	})
}

func (w *writeCounter) of(ns string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[ns]
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, &env, startController))
}

func startController(ctx context.Context, e *testenv.Env) error {
	cfg := rest.CopyConfig(e.Config)
	cfg.WrapTransport = statusWrites.wrap
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	p, err := gitopsv1.LoadPlatform("../../examples/platform.yaml")
	if err != nil {
		return err
	}
	rec = &Reconciler{
		Client:    mgr.GetClient(),
		Platform:  StaticPlatform{P: p},
		Events:    mgr.GetEventRecorder("trustsync-agentstatus"),
		APIReader: mgr.GetAPIReader(),
		Options:   Options{TargetRetry: time.Second},
	}
	if err := rec.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	// Rossoctl's instance, beside Kagenti's, as the controller runs one per family.
	rossoctl := &Reconciler{
		Client:    mgr.GetClient(),
		Platform:  StaticPlatform{P: p},
		Events:    mgr.GetEventRecorder("trustsync-agentstatus"),
		APIReader: mgr.GetAPIReader(),
		Options:   Options{TargetRetry: time.Second},
		Family:    agentv1.Rossoctl,
	}
	if err := rossoctl.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil
}

const configHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// namespace creates a namespace, enrolled in the mesh as trustsync renders it unless
// labels say otherwise.
func namespace(t *testing.T, name string, labels, annotations map[string]string) {
	t.Helper()
	if labels == nil {
		labels = map[string]string{agentv1.LabelIstioDiscovery: "enabled", agentv1.LabelIstioDataplaneMode: "ambient"}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

// deployment creates the workload of an agent as trustsync renders it: its pod template
// carries the config hash.
func deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name, agentv1.Kagenti.LabelType(): "agent"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{agentv1.Kagenti.AnnotationConfigHash(): configHash}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "example/agent:1", Ports: []corev1.ContainerPort{{ContainerPort: 8000}}}}},
			},
		},
	}
	if err := env.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func agentRuntime(t *testing.T, ns, name string, mtls agentv1.MTLSMode) *agentv1.AgentRuntime {
	t.Helper()
	rt := &agentv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: agentv1.AgentRuntimeSpec{
			Type:      agentv1.AgentTypeAgent,
			TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MTLSMode:  mtls,
		},
	}
	if err := env.Client.Create(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// waitCondition polls until the AgentRuntime has the condition with status and reason.
func waitCondition(t *testing.T, rt *agentv1.AgentRuntime, typ string, status metav1.ConditionStatus, reason string) *agentv1.AgentRuntime {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		latest := &agentv1.AgentRuntime{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rt), latest); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(latest.Status.Conditions, typ)
		if c != nil && c.Status == status && c.Reason == reason {
			return latest
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s=%s %s on %s/%s; conditions: %+v", typ, status, reason, rt.Namespace, rt.Name, latest.Status.Conditions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func condition(rt *agentv1.AgentRuntime, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(rt.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// waitEvent polls until an event with the reason regards the AgentRuntime.
func waitEvent(t *testing.T, rt *agentv1.AgentRuntime, eventType, reason string) eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(rt.Namespace)); err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Regarding.Name == rt.Name && e.Regarding.Kind == agentv1.AgentRuntimeKind && e.Reason == reason && e.Type == eventType {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event %s for %s/%s", eventType, reason, rt.Namespace, rt.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDrillSPIREGoneReportsMTLSNotReady: without SPIRE (no SPIFFE CSI driver) an agent's
// MTLSReady is False with the reason and a warning event while it stays Ready; SPIRE
// installed, True; SPIRE removed mid-run, False again. (The webhook refuses strict and
// mounts no socket without SPIRE: webhook TestInjection.)
func TestDrillSPIREGoneReportsMTLSNotReady(t *testing.T) {
	ctx := context.Background()
	namespace(t, "spire-detect", nil, nil)
	deployment(t, "spire-detect", "planner")
	rt := agentRuntime(t, "spire-detect", "planner", agentv1.MTLSPermissive)

	got := waitCondition(t, rt, agentv1.ConditionMTLSReady, metav1.ConditionFalse, ReasonSPIREUnavailable)
	if msg := condition(got, agentv1.ConditionMTLSReady).Message; msg != "mTLS requires SPIRE; either deploy SPIRE or set mTLSMode: disabled" {
		t.Errorf("MTLSReady message %q", msg)
	}
	ready := condition(got, agentv1.ConditionReady)
	if ready.Status != metav1.ConditionTrue || ready.Reason != ReasonConfigured || ready.Message != "Deployment spire-detect/planner configured with config-hash 0123456789ab" {
		t.Errorf("Ready %+v", ready)
	}
	for _, typ := range []string{agentv1.ConditionTargetResolved, agentv1.ConditionConfigResolved, agentv1.ConditionIstioMeshEnrolled} {
		if c := condition(got, typ); c.Status != metav1.ConditionTrue {
			t.Errorf("%s %+v", typ, c)
		}
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	e := waitEvent(t, rt, corev1.EventTypeWarning, ReasonSPIREUnavailable)
	if !strings.Contains(e.Note, "mTLS requires SPIRE") {
		t.Errorf("event note %q", e.Note)
	}

	driver := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: identity.CSIDriver}}
	if err := env.Client.Create(ctx, driver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, driver) })
	got = waitCondition(t, rt, agentv1.ConditionMTLSReady, metav1.ConditionTrue, ReasonSPIREAvailable)
	if c := condition(got, agentv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready after SPIRE %+v", c)
	}
	waitEvent(t, rt, corev1.EventTypeNormal, ReasonSPIREAvailable)

	// Back without SPIRE: reported again.
	if err := env.Client.Delete(ctx, driver); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, rt, agentv1.ConditionMTLSReady, metav1.ConditionFalse, ReasonSPIREUnavailable)
}

func TestMTLSDisabled(t *testing.T) {
	namespace(t, "mtls-off", nil, nil)
	deployment(t, "mtls-off", "chat")
	rt := agentRuntime(t, "mtls-off", "chat", agentv1.MTLSDisabled)
	got := waitCondition(t, rt, agentv1.ConditionMTLSReady, metav1.ConditionTrue, ReasonMTLSDisabled)
	if c := condition(got, agentv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready %+v", c)
	}
}

// TestTargetMissing: an agent without its workload is not Ready, and becomes Ready when
// the workload appears (the Deployment watch maps it back through the target index).
func TestTargetMissing(t *testing.T) {
	namespace(t, "no-target", nil, nil)
	rt := agentRuntime(t, "no-target", "ghost", agentv1.MTLSPermissive)
	got := waitCondition(t, rt, agentv1.ConditionTargetResolved, metav1.ConditionFalse, ReasonTargetNotFound)
	if c := condition(got, agentv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ReasonTargetNotFound || c.Message != "Deployment no-target/ghost not found" {
		t.Errorf("Ready %+v", c)
	}
	waitEvent(t, rt, corev1.EventTypeWarning, ReasonTargetNotFound)

	deployment(t, "no-target", "ghost")
	waitCondition(t, rt, agentv1.ConditionReady, metav1.ConditionTrue, ReasonConfigured)
	waitEvent(t, rt, corev1.EventTypeNormal, ReasonConfigured)
}

// TestMeshEnrolment: the namespace's mesh labels are observed, not patched.
func TestMeshEnrolment(t *testing.T) {
	ctx := context.Background()
	namespace(t, "unmeshed", map[string]string{}, nil)
	deployment(t, "unmeshed", "agent")
	rt := agentRuntime(t, "unmeshed", "agent", agentv1.MTLSDisabled)
	got := waitCondition(t, rt, agentv1.ConditionIstioMeshEnrolled, metav1.ConditionFalse, ReasonNotLabeled)
	if msg := condition(got, agentv1.ConditionIstioMeshEnrolled).Message; !strings.Contains(msg, "istio-discovery=enabled, istio.io/dataplane-mode=ambient") {
		t.Errorf("message %q", msg)
	}
	if c := condition(got, agentv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("the mesh holds Ready back: %+v", c)
	}
	ns := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "unmeshed"}, ns); err != nil {
		t.Fatal(err)
	}
	if len(ns.Labels) > 1 { // kubernetes.io/metadata.name only
		t.Fatalf("the controller labelled the namespace: %v", ns.Labels)
	}

	ns.Annotations = map[string]string{agentv1.Kagenti.AnnotationIstioMesh(): "disabled"}
	if err := env.Client.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, rt, agentv1.ConditionIstioMeshEnrolled, metav1.ConditionFalse, ReasonOptedOut)

	ns.Annotations = nil
	ns.Labels[agentv1.LabelIstioDiscovery] = "enabled"
	ns.Labels[agentv1.LabelIstioDataplaneMode] = "ambient"
	if err := env.Client.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, rt, agentv1.ConditionIstioMeshEnrolled, metav1.ConditionTrue, ReasonNamespaceLabeled)
}

// TestNamespaceConfig: a bad namespace default is reported on the agents that use it,
// naming the ConfigMap and key; fixing it clears it.
func TestNamespaceConfig(t *testing.T) {
	ctx := context.Background()
	namespace(t, "ns-config", nil, nil)
	deployment(t, "ns-config", "agent")
	rt := &agentv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns-config", Name: "agent"},
		Spec:       agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "agent"}},
	}
	if err := env.Client.Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, rt, agentv1.ConditionConfigResolved, metav1.ConditionTrue, ReasonConfigWarning)
	if msg := condition(got, agentv1.ConditionConfigResolved).Message; !strings.Contains(msg, "ConfigMap ns-config/authbridge-runtime-config is missing") {
		t.Errorf("message %q", msg)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns-config", Name: agentv1.ConfigMapAuthBridgeRuntimeConfig}, Data: map[string]string{agentv1.KeyConfigYAML: "mode: sidecar\n"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	got = waitCondition(t, rt, agentv1.ConditionConfigResolved, metav1.ConditionFalse, ReasonConfigError)
	if msg := condition(got, agentv1.ConditionConfigResolved).Message; !strings.Contains(msg, `ConfigMap ns-config/authbridge-runtime-config data.config.yaml: mode: unknown value "sidecar"`) {
		t.Errorf("message %q", msg)
	}
	if c := condition(got, agentv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ReasonConfigError {
		t.Errorf("Ready %+v", c)
	}

	cm.Data[agentv1.KeyConfigYAML] = "mode: proxy-sidecar\n"
	if err := env.Client.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, rt, agentv1.ConditionConfigResolved, metav1.ConditionTrue, ReasonConfigResolved)
}

// TestNoWriteWhenUnchanged: reconciling an AgentRuntime whose conditions hold sends no
// request at all, not even an apply the API server would find empty.
func TestNoWriteWhenUnchanged(t *testing.T) {
	namespace(t, "steady", nil, nil)
	deployment(t, "steady", "agent")
	rt := agentRuntime(t, "steady", "agent", agentv1.MTLSDisabled)
	settled := waitCondition(t, rt, agentv1.ConditionReady, metav1.ConditionTrue, ReasonConfigured)
	waitCached(t, settled)
	writes := statusWrites.of("steady")
	if writes == 0 {
		t.Fatal("the status writes were not counted")
	}
	for i := 0; i < 2; i++ {
		if _, err := rec.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rt)}); err != nil {
			t.Fatal(err)
		}
	}
	latest := &agentv1.AgentRuntime{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rt), latest); err != nil {
		t.Fatal(err)
	}
	if latest.ResourceVersion != settled.ResourceVersion {
		t.Fatalf("a reconcile with nothing new wrote the AgentRuntime: resourceVersion %s → %s", settled.ResourceVersion, latest.ResourceVersion)
	}
	if n := statusWrites.of("steady") - writes; n != 0 {
		t.Fatalf("a reconcile with nothing new sent %d status applies", n)
	}
}

// waitCached waits until the controller's cache holds the object's version.
func waitCached(t *testing.T, rt *agentv1.AgentRuntime) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cached := &agentv1.AgentRuntime{}
		if err := rec.cache.Get(context.Background(), client.ObjectKeyFromObject(rt), cached); err == nil && cached.ResourceVersion == rt.ResourceVersion {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never caught up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOtherOwnersKeepTheirConditions: a condition another controller applies under its
// own field owner survives this controller's writes, and this controller's survive its.
func TestOtherOwnersKeepTheirConditions(t *testing.T) {
	ctx := context.Background()
	namespace(t, "owners", map[string]string{}, nil)
	deployment(t, "owners", "agent")
	rt := agentRuntime(t, "owners", "agent", agentv1.MTLSDisabled)
	waitCondition(t, rt, agentv1.ConditionIstioMeshEnrolled, metav1.ConditionFalse, ReasonNotLabeled)

	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": agentv1.GroupVersion.String(),
		"kind":       agentv1.AgentRuntimeKind,
		"metadata":   map[string]any{"name": "agent", "namespace": "owners"},
		"status": map[string]any{"conditions": []any{map[string]any{
			"type": "KeycloakClientReady", "status": "True", "reason": "ClientRegistered", "message": "client owners/agent", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}}},
	}}
	if err := env.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(other), client.FieldOwner("trustsync-keycloak")); err != nil {
		t.Fatal(err)
	}
	latest := &agentv1.AgentRuntime{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rt), latest); err != nil {
		t.Fatal(err)
	}
	if len(latest.Status.Conditions) != len(ConditionTypes)+1 {
		t.Fatalf("after the other owner's apply: %+v", latest.Status.Conditions)
	}

	// Now this controller changes one of its conditions.
	ns := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "owners"}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels[agentv1.LabelIstioDiscovery] = "enabled"
	ns.Labels[agentv1.LabelIstioDataplaneMode] = "ambient"
	if err := env.Client.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, rt, agentv1.ConditionIstioMeshEnrolled, metav1.ConditionTrue, ReasonNamespaceLabeled)
	if c := condition(got, "KeycloakClientReady"); c.Status != metav1.ConditionTrue || c.Reason != "ClientRegistered" {
		t.Fatalf("the other owner's condition is gone: %+v", got.Status.Conditions)
	}
	for _, f := range got.ManagedFields {
		if f.Manager == FieldOwner && f.Subresource != "status" {
			t.Errorf("%s wrote outside the status: %+v", FieldOwner, f)
		}
	}
}

// TestDeletedAgent: a deleted AgentRuntime is not recreated by a late status write.
func TestDeletedAgent(t *testing.T) {
	ctx := context.Background()
	namespace(t, "deleted", nil, nil)
	rt := agentRuntime(t, "deleted", "agent", agentv1.MTLSDisabled)
	waitCondition(t, rt, agentv1.ConditionTargetResolved, metav1.ConditionFalse, ReasonTargetNotFound)
	if err := env.Client.Delete(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rt)}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rt), &agentv1.AgentRuntime{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after deletion: %v", err)
	}
}

// agentPod creates a running pod of a Deployment's ReplicaSet, as the webhook would have
// admitted it.
func agentPod(t *testing.T, ns, deployment, name, hash string, sidecar bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	containers := []corev1.Container{{Name: "agent", Image: "example/agent:1"}}
	if sidecar {
		containers = append(containers, corev1.Container{Name: "authbridge-proxy", Image: "example/authbridge:1"})
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Name:        name,
			Labels:      map[string]string{"app": deployment, agentv1.Kagenti.LabelType(): "agent", "pod-template-hash": "5d4f8"},
			Annotations: map[string]string{agentv1.Kagenti.AnnotationConfigHash(): hash},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deployment + "-5d4f8", UID: "0b7c6c1e-0000-4000-8000-000000000001", Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{Containers: containers},
	}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitConfiguredPods polls until status.configuredPods is n.
func waitConfiguredPods(t *testing.T, rt *agentv1.AgentRuntime, n int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		latest := &agentv1.AgentRuntime{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rt), latest); err != nil {
			t.Fatal(err)
		}
		if latest.Status.ConfiguredPods == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("configuredPods is %d, want %d", latest.Status.ConfiguredPods, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConfiguredPods: only running pods with the current config hash and the sidecar
// count; the pod watch finds the agent through the pod's ReplicaSet.
func TestConfiguredPods(t *testing.T) {
	ctx := context.Background()
	namespace(t, "pods", nil, nil)
	deployment(t, "pods", "counted")
	rt := agentRuntime(t, "pods", "counted", agentv1.MTLSDisabled)
	waitCondition(t, rt, agentv1.ConditionReady, metav1.ConditionTrue, ReasonConfigured)

	configured := agentPod(t, "pods", "counted", "configured", configHash, true)
	agentPod(t, "pods", "counted", "no-sidecar", configHash, false)
	agentPod(t, "pods", "counted", "stale", strings.Repeat("f", 64), true)
	waitConfiguredPods(t, rt, 1)

	second := agentPod(t, "pods", "counted", "configured-2", configHash, true)
	waitConfiguredPods(t, rt, 2)
	for _, p := range []*corev1.Pod{configured, second} {
		if err := env.Client.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitConfiguredPods(t, rt, 0)
}
