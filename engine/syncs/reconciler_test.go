package syncs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
)

var (
	env      *testenv.Env
	store    = &fakeArtifacts{arts: map[types.NamespacedName]*Artifact{}}
	reporter = &fakeReporter{}
	requests = metrics.NewRequestCounter()
)

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, &env, startController))
}

// startController runs the Sync controller against the test API server.
func startController(ctx context.Context, e *testenv.Env) error {
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	objects, err := objcache.New(e.Config, objcache.Options{Scheme: e.Scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName})
	if err != nil {
		return err
	}
	if err := mgr.Add(objects); err != nil {
		return err
	}
	p, err := gitopsv1.LoadPlatform("../../examples/platform.yaml")
	if err != nil {
		return err
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		Objects:   objects,
		Config:    e.Config,
		Mapper:    mgr.GetRESTMapper(),
		Artifacts: store,
		Reporter:  reporter,
		Events:    mgr.GetEventRecorder("trustsync"),
		Requests:  requests,
		Platform:  p,
		Options:   Options{HealthInterval: 200 * time.Millisecond},
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil
}

// fakeArtifacts stands in for the GitSource reconciler: it serves directories as
// artifacts and publishes a new one by updating the GitSource's status, as the real one
// does.
type fakeArtifacts struct {
	mu   sync.Mutex
	arts map[types.NamespacedName]*Artifact
}

func (f *fakeArtifacts) Latest(k types.NamespacedName) (*Artifact, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.arts[k]
	return a, ok
}

func (f *fakeArtifacts) publish(t *testing.T, src *gitopsv1.GitSource, dir, commit string) {
	t.Helper()
	a := &Artifact{Revision: "main@sha1:" + commit, Commit: commit, Digest: "sha256:" + commit, Dir: dir}
	f.mu.Lock()
	f.arts[client.ObjectKeyFromObject(src)] = a
	f.mu.Unlock()
	latest := &gitopsv1.GitSource{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(src), latest); err != nil {
		t.Fatal(err)
	}
	latest.Status.Artifact = &gitopsv1.Artifact{Revision: a.Revision, Digest: a.Digest, LastUpdateTime: metav1.Now()}
	if err := env.Client.Status().Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
}

type fakeReporter struct {
	mu      sync.Mutex
	reports []string // sync|commit|state|description
}

func (f *fakeReporter) Report(_ context.Context, s *gitopsv1.Sync, _ *gitopsv1.GitSource, commit string, r Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, fmt.Sprintf("%s/%s|%s|%s|%s", s.Namespace, s.Name, commit, r.State, r.Description))
	return nil
}

func (f *fakeReporter) of(s *gitopsv1.Sync) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	prefix := s.Namespace + "/" + s.Name + "|"
	for _, r := range f.reports {
		if strings.HasPrefix(r, prefix) {
			out = append(out, strings.TrimPrefix(r, prefix))
		}
	}
	return out
}

// repo writes files into a fresh directory, as a checked-out revision.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// copyExample copies an example repository (and nothing else) into a fresh directory.
func copyExample(t *testing.T, name string) map[string]string {
	return gittest.ReadTree(t, filepath.Join("../../examples", name), "")
}

// setup creates a namespace with a GitSource and a Sync of it.
func setup(t *testing.T, name string, mod func(*gitopsv1.Sync)) (*gitopsv1.GitSource, *gitopsv1.Sync) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	src := &gitopsv1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "repo"},
		Spec: gitopsv1.GitSourceSpec{
			URL:          "https://git.example/agents.git",
			CommitStatus: &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "token"}},
		},
	}
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	s := &gitopsv1.Sync{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "agents"},
		Spec: gitopsv1.SyncSpec{
			SourceRef: gitopsv1.SourceReference{Name: "repo"},
			Interval:  metav1.Duration{Duration: time.Hour},
			Prune:     true,
		},
	}
	if mod != nil {
		mod(s)
	}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	return src, s
}

// waitFor polls the Sync until cond holds.
func waitFor(t *testing.T, s *gitopsv1.Sync, what string, cond func(*gitopsv1.Sync) bool) *gitopsv1.Sync {
	t.Helper()
	return waitfor.Object(t, env.Client, client.ObjectKeyFromObject(s), what, cond)
}

func readyAt(commit string) func(*gitopsv1.Sync) bool {
	return func(s *gitopsv1.Sync) bool {
		return conditions.IsReady(s) && s.Status.LastAppliedRevision == "main@sha1:"+commit && s.Status.ObservedGeneration == s.Generation
	}
}

func get(t *testing.T, apiVersion, kind, ns, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return u, err
}

const configMaps = `apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {key: one}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
data: {key: two}
`

func TestSyncLifecycle(t *testing.T) {
	src, s := setup(t, "lifecycle", func(s *gitopsv1.Sync) { s.Spec.TargetNamespace = "lifecycle" })
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": configMaps}), "c1")
	waitFor(t, s, "the first revision", readyAt("c1"))
	if _, err := get(t, "v1", "ConfigMap", "lifecycle", "a"); err != nil {
		t.Fatal(err)
	}

	// A reconcile with nothing new sends no write and no dry-run.
	requests.Reset()
	annotate(t, s, "now-1")
	latest := waitFor(t, s, "the requested reconcile", func(s *gitopsv1.Sync) bool { return s.Status.LastHandledReconcileAt == "now-1" })
	if w, d := requests.Writes(), requests.Count(metrics.VerbDryRun); w != 0 || d != 0 {
		t.Fatalf("a no-op reconcile sent %d writes and %d dry-runs", w, d)
	}
	if got := len(latest.Status.Inventory.Entries); got != 2 {
		t.Fatalf("inventory has %d entries", got)
	}

	// A broken revision changes nothing and says why.
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": strings.Replace(configMaps, "data: {key: two}", "data: {key: changed}\n---\nkind: [", 1)}), "c2")
	broken := waitFor(t, s, "the broken revision to be refused", func(s *gitopsv1.Sync) bool {
		return s.Status.LastAttemptedRevision == "main@sha1:c2" && conditions.IsFalse(s, gitopsv1.ReadyCondition)
	})
	if !conditions.IsStalled(broken) || broken.Status.LastAppliedRevision != "main@sha1:c1" {
		t.Fatalf("broken revision: %+v", broken.Status)
	}
	if msg := conditions.GetMessage(broken, gitopsv1.ReadyCondition); !strings.Contains(msg, "cms.yaml") {
		t.Errorf("the condition does not name the file: %s", msg)
	}
	if cm, _ := get(t, "v1", "ConfigMap", "lifecycle", "b"); cm.Object["data"].(map[string]any)["key"] != "two" {
		t.Fatal("the broken revision changed an object")
	}

	// A fix that also drops b: applied, b pruned.
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": strings.SplitN(configMaps, "---", 2)[0]}), "c3")
	fixed := waitFor(t, s, "the fix", readyAt("c3"))
	if _, err := get(t, "v1", "ConfigMap", "lifecycle", "b"); !apierrors.IsNotFound(err) {
		t.Fatalf("b was not pruned: %v", err)
	}
	if len(fixed.Status.History) < 3 || fixed.Status.History[0].Result != "Applied" || fixed.Status.History[1].Result != "Failed" {
		t.Fatalf("history %+v", fixed.Status.History)
	}

	reports := reporter.of(s)
	want := []string{"c1|pending|", "c1|success|applied 2 objects, 0 drifted", "c2|pending|", "c2|failure|render failed: ", "c3|pending|", "c3|success|applied 1 objects, 0 drifted"}
	if len(reports) != len(want) {
		t.Fatalf("reports %q", reports)
	}
	for i, w := range want {
		if !strings.HasPrefix(reports[i], w) {
			t.Errorf("report %d = %q, want prefix %q", i, reports[i], w)
		}
	}
}

func annotate(t *testing.T, s *gitopsv1.Sync, value string) {
	t.Helper()
	latest := &gitopsv1.Sync{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), latest); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(latest.DeepCopy())
	latest.SetAnnotations(map[string]string{gitopsv1.AnnotationReconcileRequestedAt: value})
	if err := env.Client.Patch(context.Background(), latest, patch); err != nil {
		t.Fatal(err)
	}
}

func TestSecureProfileExampleWaitsForRollout(t *testing.T) {
	src, s := setup(t, "profile", func(s *gitopsv1.Sync) { s.Spec.Wait = true })
	files := copyExample(t, "multi-tenant")
	store.publish(t, src, repo(t, files), "p1")
	waitFor(t, s, "the rollout wait", func(s *gitopsv1.Sync) bool {
		return conditions.IsReconciling(s) && strings.Contains(conditions.GetMessage(s, gitopsv1.ReadyCondition), "Deployment team-a/research-agent")
	})
	for _, w := range []struct{ kind, ns, name string }{{"Deployment", "team-a", "research-agent"}, {"Deployment", "team-b", "planner-agent"}, {"StatefulSet", "team-b", "calendar-tool"}} {
		u, err := get(t, "apps/v1", w.kind, w.ns, w.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := testenv.MarkRolledOut(context.Background(), env.Client, u); err != nil {
			t.Fatal(err)
		}
	}
	ready := waitFor(t, s, "Ready after the rollout", readyAt("p1"))
	if len(ready.Status.Agents) != 3 || ready.Status.Agents[0].SPIFFEID == "" {
		t.Fatalf("agents %+v", ready.Status.Agents)
	}
	// What decides who may call whom is in the summary, for the dashboard.
	research := ready.Status.Agents[0]
	if research.Name != "research-agent" || research.ServiceAccount != "research-agent" || research.Host != "research-agent.team-a.svc:8080" ||
		!research.Injected || research.Mode != "proxy-sidecar" || research.MTLS != "strict" {
		t.Errorf("research-agent's summary %+v", research)
	}
}

func TestDriftWarnThenCorrect(t *testing.T) {
	src, s := setup(t, "drift", func(s *gitopsv1.Sync) {
		s.Spec.TargetNamespace = "drift"
		s.Spec.Drift = &gitopsv1.DriftSpec{Mode: gitopsv1.DriftWarn}
	})
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": configMaps}), "d1")
	waitFor(t, s, "applied", readyAt("d1"))

	cm, _ := get(t, "v1", "ConfigMap", "drift", "a")
	_ = unstructured.SetNestedField(cm.Object, "tampered", "data", "key")
	if err := env.Client.Update(context.Background(), cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	drifted := waitFor(t, s, "the drift to be seen by watch", func(s *gitopsv1.Sync) bool { return conditions.IsTrue(s, gitopsv1.DriftedCondition) })
	if d := drifted.Status.Drift; d == nil || len(d.Objects) != 1 || d.Objects[0].Fields[0] != "/data/key" || d.Objects[0].Manager != "kubectl-edit" {
		t.Fatalf("drift report %+v", drifted.Status.Drift)
	}
	if reports := reporter.of(s); !strings.HasPrefix(reports[len(reports)-1], "d1|failure|1 objects drifted: ConfigMap drift/a /data/key by kubectl-edit") {
		t.Fatalf("last report %q", reports[len(reports)-1])
	}

	latest := &gitopsv1.Sync{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), latest); err != nil {
		t.Fatal(err)
	}
	latest.Spec.Drift.Mode = gitopsv1.DriftCorrect
	if err := env.Client.Update(context.Background(), latest); err != nil {
		t.Fatal(err)
	}
	corrected := waitFor(t, s, "the correction", func(s *gitopsv1.Sync) bool {
		return conditions.IsFalse(s, gitopsv1.DriftedCondition) && conditions.GetReason(s, gitopsv1.DriftedCondition) == gitopsv1.ReasonDriftCorrected
	})
	if cm, _ := get(t, "v1", "ConfigMap", "drift", "a"); cm.Object["data"].(map[string]any)["key"] != "one" {
		t.Fatalf("not corrected: %+v", corrected.Status)
	}
	if reports := reporter.of(s); !strings.HasPrefix(reports[len(reports)-1], "d1|success|applied 2 objects, 1 drifted") {
		t.Fatalf("last report %q", reports[len(reports)-1])
	}
}

func TestImpersonationDenied(t *testing.T) {
	ctx := context.Background()
	src, s := setup(t, "tenant", func(s *gitopsv1.Sync) {
		s.Spec.TargetNamespace = "tenant"
		s.Spec.ServiceAccountName = "deployer"
	})
	// The account may manage ConfigMaps in its namespace, nothing else.
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "deployer"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "configmaps"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: "tenant"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "configmaps"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": configMaps}), "t1")
	waitFor(t, s, "applied as the tenant", readyAt("t1"))

	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen, namespace: kube-system}\nstringData: {k: v}\n"
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": configMaps + "---\n" + secret}), "t2")
	denied := waitFor(t, s, "the denial", func(s *gitopsv1.Sync) bool {
		return s.Status.LastAttemptedRevision == "main@sha1:t2" && conditions.GetReason(s, gitopsv1.ReadyCondition) == gitopsv1.ReasonImpersonationDenied
	})
	if msg := conditions.GetMessage(denied, gitopsv1.ReadyCondition); !strings.Contains(msg, "ServiceAccount tenant/deployer may not apply it") || !strings.Contains(msg, "Secret tenant/stolen") || !strings.Contains(msg, `cannot patch resource "secrets"`) {
		t.Fatalf("message %q", msg)
	}
}

func TestDeletionPrunes(t *testing.T) {
	src, s := setup(t, "deletion", func(s *gitopsv1.Sync) { s.Spec.TargetNamespace = "deletion" })
	store.publish(t, src, repo(t, map[string]string{"app/cms.yaml": configMaps}), "x1")
	waitFor(t, s, "applied", readyAt("x1"))
	if err := env.Client.Delete(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errA := get(t, "v1", "ConfigMap", "deletion", "a")
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), &gitopsv1.Sync{})
		if apierrors.IsNotFound(errA) && apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after deleting the Sync: configmap %v, sync %v", errA, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSyncsShareThePlatformObjects: every Sync renders the platform objects (feature
// gates, the default global policy); they are applied once, owned by the engine, and
// two Syncs do not take them from each other.
func TestSyncsShareThePlatformObjects(t *testing.T) {
	files := map[string]string{}
	for _, team := range []string{"team-a", "team-b"} {
		files[team+"/agent.yaml"] = strings.ReplaceAll(`apiVersion: v1
kind: Namespace
metadata: {name: share-TEAM}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: share-TEAM}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: example/agent:1, ports: [{containerPort: 8000}]}]}
---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: agent, namespace: share-TEAM}
spec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: agent}}
`, "TEAM", team)
	}
	dir := repo(t, files)
	var syncs []*gitopsv1.Sync
	for _, team := range []string{"team-a", "team-b"} {
		src, s := setup(t, "platform-"+team, func(s *gitopsv1.Sync) { s.Spec.Path = "./" + team })
		store.publish(t, src, dir, "shared")
		syncs = append(syncs, s)
	}
	for _, s := range syncs {
		waitFor(t, s, "applied", readyAt("shared"))
	}
	gates, err := get(t, "v1", "ConfigMap", "trustsync-system", "kagenti-feature-gates")
	if err != nil {
		t.Fatal(err)
	}
	if owner := gates.GetLabels()[gitopsv1.LabelSyncName]; owner != PlatformOwner {
		t.Fatalf("feature gates owned by %q", owner)
	}
	// One requested reconcile of each first: a Sync's follow-up to the other's first apply
	// of the shared objects may still be in flight when both report Ready. Two Syncs that
	// fought over them would write in every round, so the second round is the measure.
	reconcileBoth := func(round string) {
		for i, s := range syncs {
			at := fmt.Sprintf("%s-%d", round, i)
			annotate(t, s, at)
			waitFor(t, s, "the requested reconcile", func(s *gitopsv1.Sync) bool { return s.Status.LastHandledReconcileAt == at })
		}
	}
	reconcileBoth("settle")
	requests.Reset()
	reconcileBoth("again")
	if w := requests.Writes(); w != 0 {
		t.Fatalf("reconciling two Syncs that share the platform objects sent %d writes", w)
	}
	for _, s := range syncs {
		latest := &gitopsv1.Sync{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), latest); err != nil {
			t.Fatal(err)
		}
		for _, e := range latest.Status.Inventory.Entries {
			if strings.Contains(e.ID, "kagenti-feature-gates") || strings.HasPrefix(e.ID, "trustsync-system_default_") {
				t.Errorf("%s: platform object %s in a Sync's inventory", s.Name, e.ID)
			}
		}
	}
}
