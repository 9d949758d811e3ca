package keycloak

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/agentid"
)

var (
	env    *testenv.Env
	kcFake *keycloaktest.Server
)

// TestMain shares one control plane and one fake Keycloak with the controller running
// against both; without them the package fails.
func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, &env, startController))
}

func startController(ctx context.Context, e *testenv.Env) error {
	var err error
	if kcFake, err = keycloaktest.Start(keycloaktest.Options{}); err != nil {
		return err
	}
	go func() { <-ctx.Done(); kcFake.Close() }()

	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultAdminSecretNS}}); err != nil {
		return err
	}
	if err := e.Client.Create(ctx, adminSecret(kcFake.AdminUsername(), kcFake.AdminPassword())); err != nil {
		return err
	}
	p := &gitopsv1.Platform{TrustDomain: "example.org", Keycloak: gitopsv1.KeycloakConfig{URL: kcFake.URL}}
	p.Default()

	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	registrar, err := NewRegistrar(OptionsFromPlatform(p), mgr.GetAPIReader())
	if err != nil {
		return err
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		Registrar: registrar,
		Platform:  p,
		Events:    mgr.GetEventRecorder("trustsync-keycloak"),
		// Short backoff so recovery after Keycloak comes back shows within the test.
		Options: ReconcilerOptions{RetryBase: 50 * time.Millisecond, RetryMax: time.Second, Resync: time.Hour},
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Fatal("no envtest control plane") // TestMain fails the package before this
	}
}

// eventually polls cond until it holds or 30s pass.
var runs atomic.Int32

// namespace creates a namespace for one test; its name is unique per run of the test, as
// envtest never finishes deleting namespaces.
func namespace(t *testing.T, base string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", base, runs.Add(1))
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func deployment(t *testing.T, ns, name, sa string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					Containers:         []corev1.Container{{Name: "agent", Image: "example.org/agent:1"}},
				},
			},
		},
	}
	if err := env.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func agentRuntime(t *testing.T, ns, name, workload string, typ agentv1.AgentType) *agentv1.AgentRuntime {
	t.Helper()
	rt := &agentv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: agentv1.AgentRuntimeSpec{
			Type:      typ,
			TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: workload},
		},
	}
	if err := env.Client.Create(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

func getRuntime(t *testing.T, ns, name string) *agentv1.AgentRuntime {
	t.Helper()
	rt := &agentv1.AgentRuntime{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// hasCondition checks the ClientRegistered condition.
func hasCondition(ns, name string, status metav1.ConditionStatus, reason string) func() error {
	return func() error {
		rt := &agentv1.AgentRuntime{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, rt); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rt.Status.Conditions, ConditionClientRegistered)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition %+v, want %s/%s", c, status, reason)
		}
		return nil
	}
}

func credentials(ns, workload string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: agentid.CredentialsSecretName(agentv1.Kagenti, ns, workload)}, s)
	return s, err
}

func waitForSecret(t *testing.T, ns, workload string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	waitfor.NoError(t, "credentials Secret", func() (err error) {
		s, err = credentials(ns, workload)
		return err
	})
	return s
}

// requestReconcile asks for a reconcile the way `trustsync reconcile` does.
func requestReconcile(t *testing.T, ns, name string) {
	t.Helper()
	rt := getRuntime(t, ns, name)
	patch := client.MergeFrom(rt.DeepCopy())
	rt.Annotations = map[string]string{gitopsv1.AnnotationReconcileRequestedAt: time.Now().Format(time.RFC3339Nano)}
	if err := env.Client.Patch(context.Background(), rt, patch); err != nil {
		t.Fatal(err)
	}
}

func TestControllerRegistersAgent(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-register")
	d := deployment(t, ns, "weather", "weather")
	agentRuntime(t, ns, "weather", "weather", agentv1.AgentTypeAgent)

	s := waitForSecret(t, ns, "weather")
	wantID := "spiffe://example.org/ns/" + ns + "/sa/weather"
	c, ok := kcFake.Client(testRealm, wantID)
	if !ok {
		t.Fatalf("no client %s in Keycloak: %v", wantID, kcFake.Clients(testRealm))
	}
	if string(s.Data[agentid.SecretKeyClientID]) != wantID || string(s.Data[agentid.SecretKeyClientSecret]) != gocloak.PString(c.Secret) || len(s.Data) != 2 {
		t.Errorf("Secret data: keys %v, client-id %q", slices.Sorted(maps.Keys(s.Data)), s.Data[agentid.SecretKeyClientID])
	}
	if s.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("Secret labels %v", s.Labels)
	}
	owner := metav1.GetControllerOf(s)
	if owner == nil || owner.UID != d.UID || owner.Kind != "Deployment" || owner.Name != "weather" {
		t.Errorf("Secret's controller owner %+v, want the Deployment", owner)
	}
	if !gocloak.PBool(c.ServiceAccountsEnabled) || gocloak.PBool(c.FullScopeAllowed) || (*c.Attributes)[AttributeTokenExchange] != "true" ||
		gocloak.PString(c.Name) != ns+"/weather" {
		t.Errorf("client representation: %+v", c)
	}
	if _, ok := kcFake.ClientScope(testRealm, agentid.AudienceScopeName(ns, "weather")); !ok {
		t.Error("no audience scope")
	}

	waitfor.NoError(t, "ClientRegistered=True", hasCondition(ns, "weather", metav1.ConditionTrue, ReasonRegistered))
	rt := getRuntime(t, ns, "weather")
	if !slices.Contains(rt.Finalizers, Finalizer) || rt.Annotations[AnnotationClientIDs] != wantID {
		t.Errorf("finalizer %v, recorded client IDs %q", rt.Finalizers, rt.Annotations[AnnotationClientIDs])
	}

	// Another controller's condition, applied with its own field owner, survives ours.
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": agentv1.GroupVersion.String(), "kind": agentv1.AgentRuntimeKind,
		"metadata": map[string]any{"namespace": ns, "name": "weather"},
		"status": map[string]any{"conditions": []any{map[string]any{
			"type": "MTLSReady", "status": "True", "reason": "SPIREAvailable", "message": "", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}}},
	}}
	if err := env.Client.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(other), client.FieldOwner("other-controller")); err != nil {
		t.Fatal(err)
	}
	_ = kcFake.EditClient(testRealm, wantID, func(c *gocloak.Client) { c.FullScopeAllowed = gocloak.BoolP(true) })
	requestReconcile(t, ns, "weather")
	waitfor.NoError(t, "drift corrected", func() error {
		if c, _ := kcFake.Client(testRealm, wantID); gocloak.PBool(c.FullScopeAllowed) {
			return fmt.Errorf("fullScopeAllowed still true")
		}
		return nil
	})
	waitfor.NoError(t, "both conditions", func() error {
		rt := getRuntime(t, ns, "weather")
		if meta.FindStatusCondition(rt.Status.Conditions, "MTLSReady") == nil || meta.FindStatusCondition(rt.Status.Conditions, ConditionClientRegistered) == nil {
			return fmt.Errorf("conditions %v", rt.Status.Conditions)
		}
		return nil
	})
	for _, mf := range getRuntime(t, ns, "weather").ManagedFields {
		if mf.Manager == FieldOwner && mf.Subresource == "status" && mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("the condition is not server-side applied: %+v", mf)
		}
	}
	after, _ := credentials(ns, "weather")
	if after.ResourceVersion != s.ResourceVersion {
		t.Error("correcting the client rewrote an unchanged Secret")
	}
}

// TestDrillKeycloakDownBacksOffKeepsSecrets: with Keycloak down, registration says
// KeycloakUnavailable for every agent, a new one too, existing credentials Secrets are kept
// unchanged, and it recovers by its own retries, with the same client secret.
func TestDrillKeycloakDownBacksOffKeepsSecrets(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-down")
	deployment(t, ns, "planner", "planner")
	agentRuntime(t, ns, "planner", "planner", agentv1.AgentTypeAgent)
	before := waitForSecret(t, ns, "planner")
	waitfor.NoError(t, "registered", hasCondition(ns, "planner", metav1.ConditionTrue, ReasonRegistered))

	kcFake.Down(true)
	defer kcFake.Down(false)
	requestReconcile(t, ns, "planner")
	// A new agent arrives while Keycloak is down.
	deployment(t, ns, "late", "late")
	agentRuntime(t, ns, "late", "late", agentv1.AgentTypeAgent)
	waitfor.NoError(t, "KeycloakUnavailable", hasCondition(ns, "planner", metav1.ConditionFalse, ReasonKeycloakUnavailable))
	waitfor.NoError(t, "KeycloakUnavailable for the new agent", hasCondition(ns, "late", metav1.ConditionFalse, ReasonKeycloakUnavailable))
	now, err := credentials(ns, "planner")
	if err != nil || now.ResourceVersion != before.ResourceVersion || string(now.Data[agentid.SecretKeyClientSecret]) != string(before.Data[agentid.SecretKeyClientSecret]) {
		t.Fatalf("the existing Secret changed while Keycloak was down: %v", err)
	}
	if _, err := credentials(ns, "late"); !apierrors.IsNotFound(err) {
		t.Errorf("a Secret without a client: %v", err)
	}

	// Recovery by the controller's own retries: nothing pokes it.
	kcFake.Down(false)
	waitfor.NoError(t, "recovered", hasCondition(ns, "planner", metav1.ConditionTrue, ReasonRegistered))
	waitfor.NoError(t, "new agent registered", hasCondition(ns, "late", metav1.ConditionTrue, ReasonRegistered))
	waitForSecret(t, ns, "late")
	if now, _ := credentials(ns, "planner"); string(now.Data[agentid.SecretKeyClientSecret]) != string(before.Data[agentid.SecretKeyClientSecret]) {
		t.Error("the client secret changed across the outage")
	}
}

func TestControllerDeletesClient(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-delete")
	deployment(t, ns, "gone", "gone")
	rt := agentRuntime(t, ns, "gone", "gone", agentv1.AgentTypeAgent)
	waitForSecret(t, ns, "gone")
	clientID := "spiffe://example.org/ns/" + ns + "/sa/gone"
	waitfor.NoError(t, "registered", hasCondition(ns, "gone", metav1.ConditionTrue, ReasonRegistered))

	// Deleted while Keycloak is down: the AgentRuntime waits, nothing is lost.
	kcFake.Down(true)
	defer kcFake.Down(false)
	if err := env.Client.Delete(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, "cleanup waits for Keycloak", hasCondition(ns, "gone", metav1.ConditionFalse, ReasonKeycloakUnavailable))
	if _, ok := kcFake.Client(testRealm, clientID); !ok {
		t.Fatal("client vanished while Keycloak was down")
	}
	kcFake.Down(false)

	waitfor.NoError(t, "AgentRuntime gone", func() error {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rt), &agentv1.AgentRuntime{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if _, ok := kcFake.Client(testRealm, clientID); ok {
		t.Error("client not deleted")
	}
	if _, ok := kcFake.ClientScope(testRealm, agentid.AudienceScopeName(ns, "gone")); ok {
		t.Error("audience scope not deleted")
	}
	if _, err := credentials(ns, "gone"); !apierrors.IsNotFound(err) {
		t.Errorf("Secret not deleted: %v", err)
	}
}

func TestControllerServiceAccountChange(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-rename")
	d := deployment(t, ns, "coder", "coder-v1")
	agentRuntime(t, ns, "coder", "coder", agentv1.AgentTypeAgent)
	oldID, newID := "spiffe://example.org/ns/"+ns+"/sa/coder-v1", "spiffe://example.org/ns/"+ns+"/sa/coder-v2"
	waitfor.NoError(t, "registered", hasCondition(ns, "coder", metav1.ConditionTrue, ReasonRegistered))

	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.ServiceAccountName = "coder-v2"
	if err := env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, "Secret names the new client", func() error {
		s, err := credentials(ns, "coder")
		if err != nil || string(s.Data[agentid.SecretKeyClientID]) != newID {
			return fmt.Errorf("client-id %q, %v", s.Data[agentid.SecretKeyClientID], err)
		}
		return nil
	})
	waitfor.NoError(t, "old client deleted", func() error {
		if _, ok := kcFake.Client(testRealm, oldID); ok {
			return fmt.Errorf("%s still registered", oldID)
		}
		if rt := getRuntime(t, ns, "coder"); rt.Annotations[AnnotationClientIDs] != newID {
			return fmt.Errorf("recorded %q", rt.Annotations[AnnotationClientIDs])
		}
		return nil
	})
	if sc, ok := kcFake.ClientScope(testRealm, agentid.AudienceScopeName(ns, "coder")); !ok ||
		gocloak.PString((*sc.ProtocolMappers)[0].ProtocolMappersConfig.IncludedClientAudience) != newID {
		t.Error("the audience mapper does not name the new client")
	}
}

// TestTokenExchangeEndToEnd uses the credentials the controller wrote: agent A gets a
// token, exchanges it for one addressed to agent B, and that token verifies against
// the realm's keys with B in its audience.
func TestTokenExchangeEndToEnd(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-e2e")
	for _, n := range []string{"agent-a", "agent-b"} {
		deployment(t, ns, n, n)
		agentRuntime(t, ns, n, n, agentv1.AgentTypeAgent)
	}
	a, b := waitForSecret(t, ns, "agent-a"), waitForSecret(t, ns, "agent-b")
	ctx := context.Background()
	issuer := kcFake.Issuer(testRealm)
	idA, idB := string(a.Data[agentid.SecretKeyClientID]), string(b.Data[agentid.SecretKeyClientID])

	tokenA, err := keycloaktest.ClientCredentials(ctx, issuer, idA, string(a.Data[agentid.SecretKeyClientSecret]))
	if err != nil {
		t.Fatalf("agent A's client_credentials: %v", err)
	}
	exchanged, err := keycloaktest.Exchange(ctx, issuer, idA, string(a.Data[agentid.SecretKeyClientSecret]), tokenA, idB)
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	claims, err := keycloaktest.VerifyAccessToken(ctx, issuer, exchanged)
	if err != nil {
		t.Fatalf("exchanged token does not verify: %v", err)
	}
	if !slices.Contains(claims.Audience, idB) || claims.Issuer != issuer {
		t.Errorf("exchanged token: aud %v iss %s; want aud %s", claims.Audience, claims.Issuer, idB)
	}
}

func TestControllerSkipsTools(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "kc-tools")
	deployment(t, ns, "search", "search")
	deployment(t, ns, "chat", "chat")
	agentRuntime(t, ns, "search", "search", agentv1.AgentTypeTool)
	// The agent is created after the tool, so once it is registered the tool has been
	// seen too (one queue, at most two workers, both created events delivered in order).
	time.Sleep(200 * time.Millisecond)
	agentRuntime(t, ns, "chat", "chat", agentv1.AgentTypeAgent)
	waitForSecret(t, ns, "chat")
	if _, err := credentials(ns, "search"); !apierrors.IsNotFound(err) {
		t.Errorf("a tool got credentials without injectTools: %v", err)
	}
	if _, ok := kcFake.Client(testRealm, "spiffe://example.org/ns/"+ns+"/sa/search"); ok {
		t.Error("a tool got a client without injectTools")
	}
	if rt := getRuntime(t, ns, "search"); slices.Contains(rt.Finalizers, Finalizer) {
		t.Error("a tool got the finalizer")
	}
}
