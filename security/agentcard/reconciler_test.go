package agentcard

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
)

const (
	bundleNamespace = "spire-test"
)

var (
	env *testenv.Env
	// agents plays every agent: it serves cards[<ns>/<service>] and records the port
	// each fetch was for.
	agents    = &fakeAgents{cards: map[string][]byte{}, ports: map[string]string{}}
	nsCounter atomic.Int64
	// clusterCA issues the SVIDs whose bundle is in the spire-bundle ConfigMap.
	clusterCA *testCA
)

type fakeAgents struct {
	mu    sync.Mutex
	cards map[string][]byte
	ports map[string]string
}

func (a *fakeAgents) serve(key string, card []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cards[key] = card
}

func (a *fakeAgents) port(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ports[key]
}

func (a *fakeAgents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /<ns>/<service>/<port name>/.well-known/agent-card.json
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 4)
	if len(parts) != 4 || "/"+parts[3] != WellKnownPath {
		http.NotFound(w, r)
		return
	}
	key := parts[0] + "/" + parts[1]
	a.mu.Lock()
	card, ok := a.cards[key]
	a.ports[key] = parts[2]
	a.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(card)
}

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	flag.Parse()
	// A fuzzing run, and each of its workers, runs pure targets only: no control plane.
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			os.Exit(m.Run())
		}
	}
	os.Exit(testenv.Run(m, &env, startController))
}

// requireEnv: TestMain fails the package when the control plane cannot start, so every
// test has one.
func requireEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Fatal("no envtest control plane")
	}
}

// startController runs the AgentCard controller against the test API server, with a
// real HTTP fetcher pointed at the fake agents and the real ConfigMap bundle source.
func startController(ctx context.Context, e *testenv.Env) error {
	clusterCA = newTestCA(mainTB{}, "example.org")
	bundle, err := spiffebundle.FromX509Authorities(clusterCA.td, []*x509.Certificate{clusterCA.cert}).Marshal()
	if err != nil {
		return err
	}
	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bundleNamespace}}); err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: bundleNamespace, Name: DefaultBundleConfigMap},
		Data:       map[string]string{DefaultBundleKey: string(bundle)},
	}
	if err := e.Client.Create(ctx, cm); err != nil {
		return err
	}
	srv := httptest.NewServer(agents)
	go func() { <-ctx.Done(); srv.Close() }()

	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	r := &Reconciler{
		Client: mgr.GetClient(),
		Fetcher: &HTTPFetcher{URL: func(ep Endpoint) string {
			return fmt.Sprintf("%s/%s/%s/%s%s", srv.URL, ep.Namespace, ep.Service, ep.PortName, WellKnownPath)
		}},
		Bundles: &ConfigMapTrustBundle{Reader: mgr.GetAPIReader(), Namespace: bundleNamespace},
		Options: Options{TrustDomain: "example.org"},
	}
	if err := r.SetupWithManager(context.Background(), mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	return nil
}

// agentFixture creates a namespace with an agent Deployment running as ServiceAccount
// weather, and returns the namespace.
func agentFixture(t *testing.T, ctx context.Context, name string, agentLabel bool) string {
	t.Helper()
	ns := fmt.Sprintf("agentcard-%d", nsCounter.Add(1)) // t.Name() can exceed 63 characters
	t.Logf("namespace %s", ns)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": name, agentv1.Kagenti.LabelProtocolPrefix() + "a2a": ""}
	if agentLabel {
		labels[agentv1.Kagenti.LabelType()] = "agent"
	}
	podLabels := map[string]string{"app": name, agentv1.Kagenti.LabelType(): "agent"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "weather",
					Containers:         []corev1.Container{{Name: "agent", Image: "example.org/agent:1"}},
				},
			},
		},
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	return ns
}

func createService(t *testing.T, ctx context.Context, ns, name string, selector map[string]string, ports ...corev1.ServicePort) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
}

func createCard(t *testing.T, ctx context.Context, ns, workload string, mutate func(*agentv1.AgentCard)) types.NamespacedName {
	t.Helper()
	c := &agentv1.AgentCard{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: workload + "-card"},
		Spec: agentv1.AgentCardSpec{
			TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: workload},
		},
	}
	if mutate != nil {
		mutate(c)
	}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(c)
}

// waitFor polls the AgentCard until check passes.
func waitFor(t *testing.T, ctx context.Context, key types.NamespacedName, what string, check func(*agentv1.AgentCard) error) *agentv1.AgentCard {
	t.Helper()
	var c *agentv1.AgentCard
	waitfor.NoError(t, fmt.Sprintf("AgentCard %s: %s", key, what), func() error {
		c = &agentv1.AgentCard{}
		if err := env.Client.Get(ctx, key, c); err != nil {
			return err
		}
		return check(c)
	})
	return c
}

func condition(typ, status, reason string) func(*agentv1.AgentCard) error {
	return func(c *agentv1.AgentCard) error {
		got := meta.FindStatusCondition(c.Status.Conditions, typ)
		if got == nil {
			return fmt.Errorf("no %s condition in %+v", typ, c.Status.Conditions)
		}
		if string(got.Status) != status || got.Reason != reason {
			return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, got.Status, got.Reason, got.Message, status, reason)
		}
		return nil
	}
}

func signedCardFor(t *testing.T, ns string) []byte {
	t.Helper()
	svid := clusterCA.svid(t, leafOpts{uris: []string{"spiffe://example.org/ns/" + ns + "/sa/weather"}})
	return mustSign(t, testCard, svid)
}

func TestReconcileSignedCard(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := agentFixture(t, ctx, "weather", true)
	createService(t, ctx, ns, "weather", map[string]string{"app": "weather"},
		corev1.ServicePort{Name: "metrics", Port: 9090}, corev1.ServicePort{Name: "http", Port: 8000})
	signed := signedCardFor(t, ns)
	agents.serve(ns+"/weather", signed)
	key := createCard(t, ctx, ns, "weather", func(c *agentv1.AgentCard) {
		c.Spec.IdentityBinding = &agentv1.IdentityBinding{TrustDomain: "example.org", Strict: true}
	})

	c := waitFor(t, ctx, key, "SignatureVerified=True", condition(ConditionSignatureVerified, "True", ReasonSignatureValid))
	for _, check := range []func(*agentv1.AgentCard) error{
		condition(ConditionSynced, "True", ReasonSyncSucceeded),
		condition(ConditionReady, "True", ReasonReadyToServe),
		condition(ConditionVerified, "True", ReasonSignatureVerified),
		condition(ConditionBound, "True", ReasonBound),
	} {
		if err := check(c); err != nil {
			t.Error(err)
		}
	}
	st := c.Status
	wantID := "spiffe://example.org/ns/" + ns + "/sa/weather"
	wantCardID, _ := CardID(signed)
	switch {
	case st.ValidSignature == nil || !*st.ValidSignature:
		t.Errorf("validSignature = %v, want true", st.ValidSignature)
	case st.SignatureSpiffeID != wantID:
		t.Errorf("signatureSpiffeId = %q, want %q", st.SignatureSpiffeID, wantID)
	case len(st.SignatureKeyID) != 16:
		t.Errorf("signatureKeyId = %q, want 16 hex digits", st.SignatureKeyID)
	case st.CardID != wantCardID:
		t.Errorf("cardId = %q, want %q", st.CardID, wantCardID)
	case st.Card == nil || st.Card.Name != "weather-agent" || len(st.Card.Signatures) != 1:
		t.Errorf("card = %+v, want the weather-agent card with its signature", st.Card)
	case st.LastSyncTime == nil:
		t.Error("no lastSyncTime")
	case st.ExpectedSpiffeID != wantID || st.SignatureIdentityMatch == nil || !*st.SignatureIdentityMatch:
		t.Errorf("expectedSpiffeID = %q, signatureIdentityMatch = %v; want %s, true", st.ExpectedSpiffeID, st.SignatureIdentityMatch, wantID)
	case st.BindingStatus == nil || !st.BindingStatus.Bound:
		t.Errorf("bindingStatus = %+v, want bound", st.BindingStatus)
	case st.Protocol != "a2a":
		t.Errorf("protocol = %q, want a2a", st.Protocol)
	case !strings.Contains(st.SignatureVerificationDetails, wantID):
		t.Errorf("signatureVerificationDetails = %q", st.SignatureVerificationDetails)
	}
	if got := agents.port(ns + "/weather"); got != "http" {
		t.Errorf("card fetched from port %q, want the one named http", got)
	}
	owners := map[string]bool{}
	for _, mf := range c.ManagedFields {
		if mf.Subresource == "status" {
			owners[mf.Manager] = mf.Operation == metav1.ManagedFieldsOperationApply
		}
	}
	if !owners[FieldOwner] || len(owners) != 1 {
		t.Errorf("status managers %v, want only %s by apply", owners, FieldOwner)
	}

	// Another controller's condition survives this one's next apply.
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": agentv1.GroupVersion.String(), "kind": "AgentCard",
		"metadata": map[string]any{"namespace": ns, "name": key.Name},
		"status": map[string]any{"conditions": []any{map[string]any{
			"type": "SigstoreVerified", "status": "False", "reason": "SigstoreBundleNotFound",
			"message": "no bundle", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}}},
	}}
	if err := env.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(foreign), client.FieldOwner("someone-else"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	// A faster sync period (a spec change, so also an immediate reconcile) and a tampered
	// card: the next fetch must catch it.
	agents.serve(ns+"/weather", []byte(strings.Replace(string(signed), "Forecasts", "Steals", 1)))
	before := c.DeepCopy()
	c.Spec.SyncPeriod = "1s"
	if err := env.Client.Patch(ctx, c, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	c = waitFor(t, ctx, key, "SignatureVerified=False after tampering", condition(ConditionSignatureVerified, "False", ReasonSignatureInvalid))
	if err := condition("SigstoreVerified", "False", "SigstoreBundleNotFound")(c); err != nil {
		t.Errorf("another manager's condition was lost: %v", err)
	}
	if err := condition(ConditionReady, "False", ReasonVerificationFailed)(c); err != nil {
		t.Error(err)
	}
}

func TestReconcileTamperedCard(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := agentFixture(t, ctx, "weather", true)
	// Found by selector: the Service is not named like the workload, and its only port
	// has another name.
	createService(t, ctx, ns, "weather-a2a", map[string]string{"app": "weather"}, corev1.ServicePort{Name: "web", Port: 8080})
	createService(t, ctx, ns, "unrelated", map[string]string{"app": "other"}, corev1.ServicePort{Name: "http", Port: 80})
	tampered := strings.Replace(string(signedCardFor(t, ns)), `"1.0.0"`, `"2.0.0"`, 1)
	agents.serve(ns+"/weather-a2a", []byte(tampered))
	key := createCard(t, ctx, ns, "weather", nil)

	c := waitFor(t, ctx, key, "SignatureVerified=False", condition(ConditionSignatureVerified, "False", ReasonSignatureInvalid))
	if err := condition(ConditionSynced, "True", ReasonSyncSucceeded)(c); err != nil {
		t.Error(err)
	}
	if err := condition(ConditionReady, "False", ReasonVerificationFailed)(c); err != nil {
		t.Error(err)
	}
	if c.Status.ValidSignature == nil || *c.Status.ValidSignature {
		t.Errorf("validSignature = %v, want false", c.Status.ValidSignature)
	}
	if !strings.Contains(c.Status.SignatureVerificationDetails, string(SignatureInvalid)) {
		t.Errorf("signatureVerificationDetails = %q, want the reason", c.Status.SignatureVerificationDetails)
	}
	if c.Status.SignatureSpiffeID != "" {
		t.Errorf("signatureSpiffeId = %q for a rejected signature", c.Status.SignatureSpiffeID)
	}
	if meta.FindStatusCondition(c.Status.Conditions, ConditionBound) != nil {
		t.Error("a Bound condition without spec.identityBinding")
	}
	if got := agents.port(ns + "/weather-a2a"); got != "web" {
		t.Errorf("card fetched from port %q, want the first (only) port web", got)
	}
}

func TestReconcileWorkloadProblems(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		agentLabel bool
		target     string
		service    bool
		reason     string
	}{
		{name: "missing workload", agentLabel: true, target: "ghost", reason: ReasonWorkloadNotFound},
		{name: "not an agent", agentLabel: false, target: "weather", reason: ReasonNotAgentWorkload},
		{name: "no service", agentLabel: true, target: "weather", reason: ReasonServiceNotFound},
		{name: "agent not serving", agentLabel: true, target: "weather", service: true, reason: ReasonFetchFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := agentFixture(t, ctx, "weather", tt.agentLabel)
			if tt.service {
				createService(t, ctx, ns, "weather", map[string]string{"app": "weather"}, corev1.ServicePort{Name: "http", Port: 8000})
			}
			key := createCard(t, ctx, ns, tt.target, func(c *agentv1.AgentCard) {
				c.Spec.IdentityBinding = &agentv1.IdentityBinding{}
			})
			c := waitFor(t, ctx, key, "Synced=False "+tt.reason, condition(ConditionSynced, "False", tt.reason))
			if err := condition(ConditionReady, "False", ReasonSyncFailed)(c); err != nil {
				t.Error(err)
			}
			wantBound := ReasonNotBound
			if tt.reason == ReasonWorkloadNotFound {
				wantBound = ReasonAgentNotFound
			}
			if err := condition(ConditionBound, "False", wantBound)(c); err != nil {
				t.Error(err)
			}
			if c.Status.ValidSignature != nil || c.Status.Card != nil {
				t.Errorf("validSignature %v, card %v without a fetched card", c.Status.ValidSignature, c.Status.Card)
			}
		})
	}
}

func TestReconcileIdentityBinding(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		strict    bool
		wantReady string
	}{
		{"strict binding failure blocks Ready", true, "False"},
		{"lax binding failure is only reported", false, "True"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := agentFixture(t, ctx, "weather", true)
			createService(t, ctx, ns, "weather", map[string]string{"app": "weather"}, corev1.ServicePort{Name: "http", Port: 8000})
			agents.serve(ns+"/weather", signedCardFor(t, ns))
			key := createCard(t, ctx, ns, "weather", func(c *agentv1.AgentCard) {
				c.Spec.IdentityBinding = &agentv1.IdentityBinding{TrustDomain: "other.org", Strict: tt.strict}
			})
			c := waitFor(t, ctx, key, "Bound=False NotBound", condition(ConditionBound, "False", ReasonNotBound))
			if err := condition(ConditionSignatureVerified, "True", ReasonSignatureValid)(c); err != nil {
				t.Error(err) // the signature itself is fine; only the binding fails
			}
			ready := meta.FindStatusCondition(c.Status.Conditions, ConditionReady)
			if ready == nil || string(ready.Status) != tt.wantReady {
				t.Errorf("Ready = %+v, want %s", ready, tt.wantReady)
			}
			st := c.Status
			if st.BindingStatus == nil || st.BindingStatus.Bound || !strings.Contains(st.BindingStatus.Message, "other.org") {
				t.Errorf("bindingStatus = %+v, want not bound, naming other.org", st.BindingStatus)
			}
			if st.ExpectedSpiffeID != "spiffe://other.org/ns/"+ns+"/sa/weather" || st.SignatureIdentityMatch == nil || *st.SignatureIdentityMatch {
				t.Errorf("expectedSpiffeID %q, signatureIdentityMatch %v; want the other.org ID and false", st.ExpectedSpiffeID, st.SignatureIdentityMatch)
			}
		})
	}
}

// TestReconcileCopiedCard: a card signed by another workload of the same trust domain,
// served as this agent's, verifies as a signature but does not bind (the reference only
// checks the trust domain), and with strict binding the card is not Ready.
func TestReconcileCopiedCard(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := agentFixture(t, ctx, "weather", true)
	createService(t, ctx, ns, "weather", map[string]string{"app": "weather"}, corev1.ServicePort{Name: "http", Port: 8000})
	planner := clusterCA.svid(t, leafOpts{uris: []string{"spiffe://example.org/ns/" + ns + "/sa/planner"}})
	agents.serve(ns+"/weather", mustSign(t, testCard, planner))
	key := createCard(t, ctx, ns, "weather", func(c *agentv1.AgentCard) {
		c.Spec.IdentityBinding = &agentv1.IdentityBinding{TrustDomain: "example.org", Strict: true}
	})
	c := waitFor(t, ctx, key, "Bound=False NotBound", condition(ConditionBound, "False", ReasonNotBound))
	if err := condition(ConditionSignatureVerified, "True", ReasonSignatureValid)(c); err != nil {
		t.Error(err)
	}
	if err := condition(ConditionReady, "False", ReasonVerificationFailed)(c); err != nil {
		t.Error(err)
	}
	if st := c.Status; st.BindingStatus == nil || !strings.Contains(st.BindingStatus.Message, "not the workload's identity") || st.SignatureIdentityMatch == nil || *st.SignatureIdentityMatch {
		t.Errorf("status %+v, want not bound because the signer is another workload", st.BindingStatus)
	}
}
