package shardtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxcd/pkg/runtime/leaderelection"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/internal/testenv"
)

var (
	env                *testenv.Env
	binary, kubeconfig string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "shardtest-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = stack.BuildBinary(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kubeconfig = filepath.Join(dir, "kubeconfig")
		return testenv.Run(m, &env, func(_ context.Context, e *testenv.Env) error {
			return stack.WriteKubeconfig(kubeconfig, e)
		})
	}())
}

// controller is one controller process.
type controller struct {
	cmd *exec.Cmd
	log string
}

func startController(t *testing.T, name, selector string) *controller {
	t.Helper()
	dir := t.TempDir()
	c := &controller{log: filepath.Join(dir, "controller.log")}
	logFile, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(binary, "controller", "--kubeconfig", kubeconfig, "--leader-elect", "--watch-label-selector", selector,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--receiver-bind-address", "0", "--cache-dir", filepath.Join(dir, "cache"))
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			data, _ := os.ReadFile(c.log)
			t.Logf("%s's log, last 3000 bytes:\n%s", name, data[max(0, len(data)-3000):])
		}
	})
	return c
}

// kill kills the process as the kernel would on an OOM: no Lease is released.
func (c *controller) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// pair is a GitSource and a Sync of path, both labelled for shard (none when empty),
// applying into namespace ns.
func pair(ns, name, url, path, shard string) []client.Object {
	var labels map[string]string
	if shard != "" {
		labels = map[string]string{gitopsv1.LabelShardKey: shard}
	}
	return []client.Object{
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: gitopsv1.GitSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Minute}}},
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: name}, Path: path, Interval: metav1.Duration{Duration: time.Minute}}},
	}
}

func getSync(t *testing.T, ns, name string) *gitopsv1.Sync {
	t.Helper()
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls until ok holds, at most d.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ready(t *testing.T, ns, name string) func() bool {
	return func() bool { return conditions.IsTrue(getSync(t, ns, name), gitopsv1.ReadyCondition) }
}

func leaseHolder(t *testing.T, name string) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: gitopsv1.DefaultPlatformNamespace, Name: name}, l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func requestReconcile(t *testing.T, ns, name string) string {
	t.Helper()
	s := getSync(t, ns, name)
	at := time.Now().UTC().Format(time.RFC3339Nano)
	patch := client.MergeFrom(s.DeepCopy())
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[gitopsv1.AnnotationReconcileRequestedAt] = at
	if err := env.Client.Patch(t.Context(), s, patch); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestShards: Syncs split between controller processes by Flux's sharding label. The
// main set and a shard each reconcile only their own Syncs, on Leases of their own, and
// the shard's objects carry its label; with the main set killed its Syncs wait while
// the shard goes on; a shard's second replica takes the Lease over once the first is
// killed, and reconciles its Syncs; the main set, restarted, picks its Syncs up.
func TestShards(t *testing.T) {
	const shard = "shard1"
	git := gittest.NewServer(t, gittest.Options{})
	git.CreateRepo(t, "agents")
	w := git.Workspace(t, "agents")
	files := map[string]string{}
	for _, ns := range []string{"apps-main", "apps-one", "apps-two"} {
		files[ns+"/config.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: " + ns + "}\ndata: {owner: " + ns + "}\n"
		create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	w.Write(t, files)
	w.Commit(t, "three trees")
	w.Push(t, "main")

	mainSelector, shardSelector := "!"+gitopsv1.LabelShardKey, gitopsv1.LabelShardKey+"="+shard
	mainLease := leaderelection.GenerateID("trustsync-controller", mainSelector)
	shardLease := leaderelection.GenerateID("trustsync-controller", shardSelector)

	mainSet := startController(t, "main", mainSelector)
	first := startController(t, "shard1-a", shardSelector)
	waitFor(t, time.Minute, "the shard's Lease is held", func() bool { return leaseHolder(t, shardLease) != "" })
	firstHolder := leaseHolder(t, shardLease)
	startController(t, "shard1-b", shardSelector)

	create(t, pair("apps-main", "main", git.RepoURL("agents"), "apps-main", "")...)
	create(t, pair("apps-one", "one", git.RepoURL("agents"), "apps-one", shard)...)
	waitFor(t, 2*time.Minute, "both Syncs are Ready", func() bool { return ready(t, "apps-main", "main")() && ready(t, "apps-one", "one")() })
	if leaseHolder(t, mainLease) == "" || leaseHolder(t, mainLease) == leaseHolder(t, shardLease) {
		t.Errorf("Leases: main %q, shard %q; want one each, held apart", leaseHolder(t, mainLease), leaseHolder(t, shardLease))
	}
	for ns, want := range map[string]string{"apps-one": shard, "apps-main": ""} {
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "settings"}, cm); err != nil {
			t.Fatal(err)
		}
		if got := cm.Labels[gitopsv1.LabelShardKey]; got != want {
			t.Errorf("%s/settings has shard label %q, want %q", ns, got, want)
		}
	}

	// Without the main set, its new Sync waits; the shard still answers for its own.
	mainSet.kill()
	create(t, pair("apps-two", "two", git.RepoURL("agents"), "apps-two", "")...)
	at := requestReconcile(t, "apps-one", "one")
	waitFor(t, time.Minute, "the shard handles its Sync's reconcile request", func() bool { return getSync(t, "apps-one", "one").Status.LastHandledReconcileAt == at })
	if s := getSync(t, "apps-two", "two"); conditions.Get(s, gitopsv1.ReadyCondition) != nil || s.Status.LastAttemptedRevision != "" {
		t.Errorf("the shard reconciled the main set's Sync: %+v", s.Status)
	}

	// The shard's leader killed: the second replica takes the Lease once it expires.
	first.kill()
	waitFor(t, time.Minute, "the second replica takes the shard's Lease over", func() bool {
		h := leaseHolder(t, shardLease)
		return h != "" && h != firstHolder
	})
	at = requestReconcile(t, "apps-one", "one")
	waitFor(t, time.Minute, "the new shard leader handles a reconcile request", func() bool { return getSync(t, "apps-one", "one").Status.LastHandledReconcileAt == at })

	// The main set back: its waiting Sync is applied.
	startController(t, "main-again", mainSelector)
	waitFor(t, 2*time.Minute, "the restarted main set makes its waiting Sync Ready", ready(t, "apps-two", "two"))
	if strings.Contains(leaseHolder(t, mainLease), firstHolder) {
		t.Error("the main Lease is held by the killed shard process")
	}
}
