package fleettest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/controller"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/testenv"
)

var (
	hub   *testenv.Env
	gitea *giteatest.Server
	// The two member clusters, each an API server of its own.
	prod, dev *testenv.Env
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if prod, err = testenv.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: the prod member:", err)
			return 1
		}
		defer prod.Stop()
		if dev, err = testenv.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: the dev member:", err)
			return 1
		}
		defer dev.Stop()
		return testenv.Run(m, &hub, startGitea, startController)
	}())
}

func startGitea(ctx context.Context, _ *testenv.Env) (err error) {
	gitea, err = giteatest.StartTemp(ctx)
	return err
}

func startController(ctx context.Context, e *testenv.Env) error {
	p, err := gitopsv1.LoadPlatform("../../../examples/platform.yaml")
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "trustsync-fleet-cache-")
	if err != nil {
		return err
	}
	go func() {
		if err := controller.Run(ctx, e.Config, controller.Options{Platform: p, MetricsAddr: "0", HealthAddr: "0", ReceiverAddr: "0", CacheDir: cache}); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
		}
		_ = os.RemoveAll(cache)
	}()
	return nil
}

// world is one test's namespace on the hub: a Gitea repository of the single-agent
// example (its namespace renamed to the test's) under base/, its GitSource, and the two
// members registered as Clusters prod and dev with trust domains of their own.
type world struct {
	ns   string
	ws   *gittest.Workspace
	head string
}

func newWorld(t *testing.T, ns string, extra map[string]string) *world {
	t.Helper()
	ctx := t.Context()
	cloneURL, err := gitea.CreateRepo(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ns: ns, ws: gittest.Clone(t, cloneURL, gitea.AuthHeader())}
	files := map[string]string{}
	for name, content := range gittest.ReadTree(t, "../../../examples/single-agent", "base/") {
		files[name] = strings.ReplaceAll(content, "demo", ns)
	}
	for name, content := range extra {
		files[name] = content
	}
	w.push(t, files, "the assistant and its weather tool")

	create(t, hub.Client,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gitea-token"}, StringData: map[string]string{"token": gitea.Token}},
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"}, Spec: gitopsv1.GitSourceSpec{
			URL: cloneURL, Ref: &gitopsv1.GitRef{Branch: "main"}, Interval: metav1.Duration{Duration: 2 * time.Second},
			SecretRef:    &gitopsv1.LocalObjectReference{Name: "git"},
			CommitStatus: &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "gitea-token"}},
		}},
	)
	for name, member := range map[string]*testenv.Env{"prod": prod, "dev": dev} {
		wave := map[string]string{"prod": "1", "dev": "2"}[name]
		create(t, hub.Client,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig"}, Data: map[string][]byte{"value": kubeconfig(t, member)}},
			&gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"env": name, "wave": wave}},
				Spec: gitopsv1.ClusterSpec{Interval: &metav1.Duration{Duration: 2 * time.Second}, Platform: &gitopsv1.ClusterPlatform{TrustDomain: name + ".example.org"}}},
		)
	}
	return w
}

func (w *world) push(t *testing.T, files map[string]string, msg string) {
	t.Helper()
	w.ws.Write(t, files)
	w.head = w.ws.Commit(t, msg)
	w.ws.Push(t)
}

// kubeconfig of a member with its admin credentials inline, as Cluster API writes it.
func kubeconfig(t *testing.T, e *testenv.Env) []byte {
	t.Helper()
	data, err := e.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func (w *world) sync(t *testing.T) *gitopsv1.Sync {
	t.Helper()
	s := &gitopsv1.Sync{}
	if err := hub.Client.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: "agents"}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func clusterStatus(s *gitopsv1.Sync, name string) gitopsv1.ClusterSyncStatus {
	for _, c := range s.Status.Clusters {
		if c.Name == name {
			return c
		}
	}
	return gitopsv1.ClusterSyncStatus{}
}

// waitFor polls until ok holds, at most d; on timeout it shows the Sync's status.
func (w *world) waitFor(t *testing.T, d time.Duration, what string, ok func(s *gitopsv1.Sync) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := w.sync(t)
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s; the Sync's conditions %+v, clusters %+v", d, what, s.Status.Conditions, s.Status.Clusters)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// onRevision: the Sync's clusters named all report the world's head applied.
func (w *world) onRevision(names ...string) func(s *gitopsv1.Sync) bool {
	return func(s *gitopsv1.Sync) bool {
		for _, n := range names {
			c := clusterStatus(s, n)
			if !strings.HasSuffix(c.LastAppliedRevision, w.head) || c.Result != gitopsv1.ClusterApplied {
				return false
			}
		}
		return true
	}
}

func ready(s *gitopsv1.Sync) bool { return conditions.IsTrue(s, gitopsv1.ReadyCondition) }

func get(t *testing.T, e *testenv.Env, obj client.Object, ns, name string) error {
	t.Helper()
	return e.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func exists(t *testing.T, e *testenv.Env, kind, ns, name string) bool {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(map[string]string{"Deployment": "apps/v1", "ConfigMap": "v1", "Service": "v1"}[kind])
	u.SetKind(kind)
	return get(t, e, u, ns, name) == nil
}

// spiffeTemplate is the SPIFFE ID template of the ClusterSPIFFEID of a workload (named
// <namespace>.<workload>).
func spiffeTemplate(t *testing.T, e *testenv.Env, ns, workload string) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("spire.spiffe.io/v1alpha1")
	u.SetKind("ClusterSPIFFEID")
	if err := get(t, e, u, "", ns+"."+workload); err != nil {
		t.Errorf("the ClusterSPIFFEID of %s/%s: %v", ns, workload, err)
		return ""
	}
	tmpl, _, _ := unstructured.NestedString(u.Object, "spec", "spiffeIDTemplate")
	return tmpl
}

// status is the commit's Gitea status of a context, polled until it is in state.
func waitForStatus(t *testing.T, repo, sha, context, state string) giteatest.Status {
	t.Helper()
	var last []giteatest.Status
	for range 240 {
		statuses, err := gitea.Statuses(t.Context(), repo, sha)
		if err != nil {
			t.Fatal(err)
		}
		last = statuses
		for _, s := range statuses { // newest first
			if s.Context == context {
				if s.State == state {
					return s
				}
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("commit %s: no %s status %q; statuses %+v", sha[:12], state, context, last)
	return giteatest.Status{}
}

// TestFleetDelivery: one Sync selecting both members applies to both, each with its own
// trust domain in its ClusterSPIFFEIDs, and the overlay its env label chooses to prod
// only; each cluster posts its own commit status. Drift on dev is corrected there,
// a file removed from Git is pruned on both, and with dev's API server stopped prod
// converges on a new revision while dev says it is unreachable, then converges too once
// it is back.
func TestFleetDelivery(t *testing.T) {
	const ns = "fleet-delivery"
	w := newWorld(t, ns, map[string]string{
		"envs/prod/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base, strict.yaml]\n",
		"envs/prod/strict.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mesh-mode, namespace: " + ns + "}\ndata: {mtls: strict}\n",
	})
	create(t, hub.Client, &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"}, Spec: gitopsv1.SyncSpec{
		SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./base", Interval: metav1.Duration{Duration: time.Hour}, Prune: true,
		ClusterSelector: &metav1.LabelSelector{}, ClusterOverlay: "./envs/${cluster.labels.env}",
	}})
	w.waitFor(t, 2*time.Minute, "both clusters have the revision and the Sync is Ready", func(s *gitopsv1.Sync) bool { return ready(s) && w.onRevision("prod", "dev")(s) })

	for name, e := range map[string]*testenv.Env{"prod": prod, "dev": dev} {
		if got, want := spiffeTemplate(t, e, ns, "assistant"), "spiffe://"+name+".example.org/"; !strings.HasPrefix(got, want) {
			t.Errorf("%s: the assistant's ClusterSPIFFEID template is %q, want it in the trust domain %s", name, got, want)
		}
		if !exists(t, e, "Deployment", ns, "weather-tool") {
			t.Errorf("%s: no weather-tool Deployment", name)
		}
	}
	if !exists(t, prod, "ConfigMap", ns, "mesh-mode") || exists(t, dev, "ConfigMap", ns, "mesh-mode") {
		t.Errorf("the prod overlay's ConfigMap: on prod %t, on dev %t; want prod only", exists(t, prod, "ConfigMap", ns, "mesh-mode"), exists(t, dev, "ConfigMap", ns, "mesh-mode"))
	}
	for _, ctx := range []string{"trustsync/" + ns + "/agents", "trustsync/" + ns + "/agents/prod", "trustsync/" + ns + "/agents/dev"} {
		waitForStatus(t, ns, w.head, ctx, "success")
	}
	if got := w.sync(t).Status.Inventory; got != nil {
		t.Errorf("a fleet Sync has a hub inventory: %d entries", len(got.Entries))
	}

	// Drift on dev: a Service deleted there comes back, prod untouched.
	svc := &corev1.Service{}
	if err := get(t, dev, svc, ns, "weather-tool"); err != nil {
		t.Fatal(err)
	}
	if err := dev.Client.Delete(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !exists(t, dev, "Service", ns, "weather-tool") {
		if time.Now().After(deadline) {
			t.Fatal("the Service deleted on dev was not restored")
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Prune on both: the weather tool leaves Git.
	kust := strings.ReplaceAll(gittest.ReadTree(t, "../../../examples/single-agent", "base/")["base/kustomization.yaml"], "demo", ns)
	w.push(t, map[string]string{"base/weather-tool.yaml": "", "base/kustomization.yaml": strings.Replace(kust, "  - weather-tool.yaml\n", "", 1)}, "no weather tool")
	w.waitFor(t, 2*time.Minute, "both clusters have the revision without the tool", w.onRevision("prod", "dev"))
	for name, e := range map[string]*testenv.Env{"prod": prod, "dev": dev} {
		if exists(t, e, "Deployment", ns, "weather-tool") {
			t.Errorf("%s: the weather-tool Deployment was not pruned", name)
		}
		if !exists(t, e, "Deployment", ns, "assistant") {
			t.Errorf("%s: the assistant is gone too", name)
		}
	}

	// dev's API server stopped: prod goes on alone; dev says why, and catches up.
	if err := dev.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = dev.StartAPIServer()
		}
	})
	w.push(t, map[string]string{"base/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: " + ns + "}\n", "base/kustomization.yaml": strings.Replace(kust, "  - weather-tool.yaml\n", "  - extra.yaml\n", 1)}, "an extra ConfigMap")
	w.waitFor(t, 2*time.Minute, "prod has the new revision, dev is unreachable", func(s *gitopsv1.Sync) bool {
		return w.onRevision("prod")(s) && clusterStatus(s, "dev").Result == gitopsv1.ClusterUnreachable
	})
	s := w.sync(t)
	if dev := clusterStatus(s, "dev"); dev.Ready != metav1.ConditionFalse || dev.Message == "" {
		t.Errorf("dev's status while unreachable: %+v", dev)
	}
	if ready(s) {
		t.Errorf("the Sync is Ready with dev unreachable: %s", conditions.GetMessage(s, gitopsv1.ReadyCondition))
	}
	if !exists(t, prod, "ConfigMap", ns, "extra") {
		t.Error("prod did not get the new revision's ConfigMap")
	}
	waitForStatus(t, ns, w.head, "trustsync/"+ns+"/agents/prod", "success")
	waitForStatus(t, ns, w.head, "trustsync/"+ns+"/agents/dev", "failure")

	if err := dev.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	w.waitFor(t, 2*time.Minute, "dev converges once its API server is back", func(s *gitopsv1.Sync) bool { return ready(s) && w.onRevision("prod", "dev")(s) })
	if !exists(t, dev, "ConfigMap", ns, "extra") {
		t.Error("dev did not get the new revision's ConfigMap")
	}
	waitForStatus(t, ns, w.head, "trustsync/"+ns+"/agents/dev", "success")
	waitForStatus(t, ns, w.head, "trustsync/"+ns+"/agents", "success")
}

// TestFleetWaves: two waves, prod first. Prod's rollout never becomes healthy, so the
// first wave fails: the rollout halts, dev never gets the revision, and the Sync and
// the commit say why. A revision that is healthy on prod then goes on to dev, except
// while dev is held.
func TestFleetWaves(t *testing.T) {
	const ns = "fleet-waves"
	w := newWorld(t, ns, nil)
	byWave := func(v string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"wave": v}}
	}
	create(t, hub.Client, &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"}, Spec: gitopsv1.SyncSpec{
		SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./base", Interval: metav1.Duration{Duration: time.Hour}, Prune: true,
		Wait: true, Timeout: &metav1.Duration{Duration: 3 * time.Second},
		ClusterSelector: &metav1.LabelSelector{},
		Rollout:         &gitopsv1.RolloutSpec{Waves: []gitopsv1.Wave{{Name: "first", ClusterSelector: byWave("1")}, {Name: "second", ClusterSelector: byWave("2")}}},
	}})
	w.waitFor(t, 2*time.Minute, "the rollout halts on prod's health", func(s *gitopsv1.Sync) bool {
		c := conditions.Get(s, gitopsv1.ReadyCondition)
		return c != nil && c.Reason == gitopsv1.ReasonRolloutHalted
	})
	s := w.sync(t)
	msg := conditions.GetMessage(s, gitopsv1.ReadyCondition)
	for _, want := range []string{`wave "first"`, "prod"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the halted Sync's message %q does not name %s", msg, want)
		}
	}
	if c := clusterStatus(s, "prod"); c.Result != gitopsv1.ClusterFailed || !strings.Contains(c.Message, "health") {
		t.Errorf("prod: %+v, want Failed on health", c)
	}
	if c := clusterStatus(s, "dev"); c.Result != gitopsv1.ClusterWaiting || c.LastAttemptedRevision != "" || c.Wave != "second" {
		t.Errorf("dev: %+v, want waiting in wave second, never attempted", c)
	}
	if exists(t, dev, "Deployment", ns, "assistant") {
		t.Error("dev got the revision of a halted rollout")
	}
	st := waitForStatus(t, ns, w.head, "trustsync/"+ns+"/agents", "failure")
	if !strings.Contains(st.Description, "halted") {
		t.Errorf("the commit's failure status says %q, not that the rollout halted", st.Description)
	}

	// dev held; a revision without workloads is healthy on prod at once.
	holdCluster(t, ns, "dev", "maintenance until Friday")
	w.push(t, map[string]string{
		"base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [namespace.yaml, settings.yaml]\n",
		"base/settings.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: " + ns + "}\n",
		"base/assistant.yaml":     "", "base/weather-tool.yaml": "", "base/policy.yaml": "",
	}, "settings only")
	w.waitFor(t, 2*time.Minute, "prod has it, dev is held", func(s *gitopsv1.Sync) bool {
		return w.onRevision("prod")(s) && clusterStatus(s, "dev").Result == gitopsv1.ClusterHeld && ready(s)
	})
	if exists(t, dev, "ConfigMap", ns, "settings") {
		t.Error("the held cluster got the revision")
	}
	if c := clusterStatus(w.sync(t), "dev"); !strings.Contains(c.Message, "maintenance until Friday") {
		t.Errorf("dev's held status does not say why: %+v", c)
	}

	holdCluster(t, ns, "dev", "")
	w.waitFor(t, 2*time.Minute, "dev gets the revision once released", func(s *gitopsv1.Sync) bool { return ready(s) && w.onRevision("prod", "dev")(s) })
	if !exists(t, dev, "ConfigMap", ns, "settings") || exists(t, prod, "Deployment", ns, "assistant") {
		t.Error("dev has no settings, or prod kept the pruned assistant")
	}
}

// holdCluster sets (or, with "", removes) a Cluster's hold annotation.
func holdCluster(t *testing.T, ns, name, why string) {
	t.Helper()
	c := &gitopsv1.Cluster{}
	if err := hub.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(c.DeepCopy())
	if why == "" {
		delete(c.Annotations, gitopsv1.AnnotationHold)
	} else {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, gitopsv1.AnnotationHold, why)
	}
	if err := hub.Client.Patch(t.Context(), c, patch); err != nil {
		t.Fatal(err)
	}
}
