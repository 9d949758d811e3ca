package drills

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/stack"
)

var s *stack.Stack

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "drills-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary, err := stack.BuildBinary(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if s, err = stack.Start(context.Background(), binary); err != nil {
			fmt.Fprintln(os.Stderr, "starting the stack:", err)
			return 1
		}
		defer s.Stop()
		return m.Run()
	}())
}

// drillRepo is one drill's repository on Gitea, synced into its namespace.
type drillRepo struct {
	t        *testing.T
	ns, name string
	repo     *stack.Repo
}

func newDrillRepo(t *testing.T, ns string, files map[string]string) (*drillRepo, string) {
	t.Helper()
	ctx := t.Context()
	cloneURL, err := s.Gitea.CreateRepo(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		t.Fatal(err)
	}
	d := &drillRepo{t: t, ns: ns, name: ns, repo: repo}
	sha := d.push(files, "first")
	if err := s.Sync(ctx, ns, ns, cloneURL, "./apps"); err != nil {
		t.Fatal(err)
	}
	d.wait(sha, "success")
	return d, sha
}

// push replaces apps/ with files and pushes one commit.
func (d *drillRepo) push(files map[string]string, msg string) string {
	d.t.Helper()
	sha := d.commit(files, msg)
	if err := d.repo.Push(); err != nil {
		d.t.Fatal(err)
	}
	return sha
}

// commit replaces apps/ with files and commits, without pushing.
func (d *drillRepo) commit(files map[string]string, msg string) string {
	d.t.Helper()
	apps := filepath.Join(d.repo.Dir, "apps")
	if err := os.RemoveAll(apps); err != nil {
		d.t.Fatal(err)
	}
	if err := os.MkdirAll(apps, 0o755); err != nil {
		d.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(apps, name), []byte(content), 0o644); err != nil {
			d.t.Fatal(err)
		}
	}
	sha, err := d.repo.Commit(msg)
	if err != nil {
		d.t.Fatal(err)
	}
	return sha
}

func (d *drillRepo) context() string { return "trustsync/" + d.ns + "/" + d.name }

func (d *drillRepo) wait(sha, state string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 3*time.Minute)
	defer cancel()
	if err := s.WaitForStatus(ctx, d.name, sha, d.context(), state, 100*time.Millisecond); err != nil {
		d.t.Fatal(err)
	}
}

// settled waits until the commit's statuses of the drill's context have not changed
// for two seconds, and returns how many there are: what a reconcile posts, it posts
// within that.
func (d *drillRepo) settled(sha string) int {
	d.t.Helper()
	n, since := -1, time.Now()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if now := len(d.statuses(sha)); now != n {
			n, since = now, time.Now()
		} else if time.Since(since) > 2*time.Second {
			return n
		}
	}
	d.t.Fatalf("the statuses of %s never settled", sha[:12])
	return 0
}

// statuses are the commit's statuses of the drill's context, newest first.
func (d *drillRepo) statuses(sha string) []giteatest.Status {
	d.t.Helper()
	all, err := s.Gitea.Statuses(d.t.Context(), d.name, sha)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []giteatest.Status
	for _, st := range all {
		if st.Context == d.context() {
			out = append(out, st)
		}
	}
	return out
}

// configMaps is a revision of n ConfigMaps in namespace ns, from index first, each
// carrying rev.
func configMaps(ns string, first, n int, rev string) map[string]string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%04d, namespace: %s}\ndata: {rev: %q, payload: %q}\n", i, ns, rev, strings.Repeat("x", 512))
	}
	return map[string]string{"configmaps.yaml": b.String()}
}

// live is the drill namespace's ConfigMaps that the Sync applied: name → rev.
func live(t *testing.T, ns string) map[string]string {
	t.Helper()
	var list corev1.ConfigMapList
	if err := s.Env.Client.List(t.Context(), &list, client.InNamespace(ns), client.HasLabels{gitopsv1.LabelSyncName}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range list.Items {
		out[cm.Name] = cm.Data["rev"]
	}
	return out
}

// midApply pushes revision 2 of a drill of total objects — dropping the first 50,
// changing the others and adding 50 — and returns once part of it is applied, the
// moment to break something, with the commit and what the namespace must end up with.
func midApply(t *testing.T, d *drillRepo, ns string, total int) (sha string, want map[string]string) {
	t.Helper()
	want = map[string]string{}
	for i := 50; i < total+50; i++ {
		want[fmt.Sprintf("cm-%04d", i)] = "2"
	}
	sha = d.push(configMaps(ns, 50, total, "2"), "second")
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		for _, rev := range live(t, ns) {
			if rev == "2" {
				return sha, want
			}
		}
	}
	t.Fatalf("revision 2 never started to apply: %s", s.LogTail())
	return "", nil
}

// converged checks that the drill's namespace holds want exactly: every object at its
// revision, none that it dropped.
func converged(t *testing.T, ns string, want map[string]string) {
	t.Helper()
	got := live(t, ns)
	for name, rev := range want {
		if got[name] != rev {
			t.Errorf("%s: rev %q, want %q", name, got[name], rev)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is still there: the revision dropped it", name)
		}
	}
}

// TestDrillControllerKilledMidApplyConverges: the controller is SIGKILLed while it
// applies a revision; restarted, it converges to that revision whole — every object at
// the new content, the ones the revision dropped pruned, none it keeps pruned — and the
// commit gets exactly one final status, success.
func TestDrillControllerKilledMidApplyConverges(t *testing.T) {
	const ns, total = "drill-kill", 400
	d, _ := newDrillRepo(t, ns, configMaps(ns, 0, total, "1"))
	sha, want := midApply(t, d, ns, total)
	if err := s.KillController(); err != nil {
		t.Fatal(err)
	}
	partial := 0
	for _, rev := range live(t, ns) {
		if rev == "2" {
			partial++
		}
	}
	t.Logf("killed with %d of %d objects of revision 2 applied", partial, len(want))
	if partial == len(want) {
		t.Fatal("the apply had finished when the kill landed: the drill proved nothing")
	}
	if err := s.RestartController(); err != nil {
		t.Fatal(err)
	}
	d.wait(sha, "success")
	converged(t, ns, want)
	var final []string
	for _, st := range d.statuses(sha) {
		if st.State == "success" || st.State == "failure" || st.State == "error" {
			final = append(final, st.State)
		}
	}
	if len(final) != 1 || final[0] != "success" {
		t.Errorf("commit %s has final statuses %v, want exactly one success", sha[:12], final)
	}
}

// writes are the write requests and dry-runs among the engine's API requests.
var writeVerbs = []string{"apply", "create", "update", "patch", "delete", "dryrun"}

// TestDrillRestartWithNothingNewWritesNothing: a controller restarted with nothing new
// in Git and no drift reconciles every Sync, a warn-mode one too, without one write or
// dry-run, and posts no new commit status.
func TestDrillRestartWithNothingNewWritesNothing(t *testing.T) {
	const ns = "drill-restart"
	d, sha := newDrillRepo(t, ns, configMaps(ns, 0, 100, "1"))
	// The drill's Sync in warn mode: a restart must not apply even where it could.
	sync := &gitopsv1.Sync{}
	if err := s.Env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, sync); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sync.DeepCopy())
	sync.Spec.Drift = &gitopsv1.DriftSpec{Mode: gitopsv1.DriftWarn}
	if err := s.Env.Client.Patch(t.Context(), sync, patch); err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, ns, sync.Generation) // the patch's answer carries the new one
	before := d.settled(sha)

	if err := s.KillController(); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartController(); err != nil {
		t.Fatal(err)
	}
	// Every Sync of the stack reconciled once by the new process.
	var syncs gitopsv1.SyncList
	if err := s.Env.Client.List(t.Context(), &syncs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var m map[string]float64
	for {
		var err error
		m, err = s.ControllerMetrics(t.Context())
		done := err == nil
		for _, sy := range syncs.Items {
			key := fmt.Sprintf(`trustsync_reconcile_duration_seconds_count{kind="Sync",name=%q,namespace=%q}`, sy.Name, sy.Namespace)
			done = done && m[key] >= 1
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted controller did not reconcile every Sync: %v, %v\n%s", err, m, s.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // what a reconcile would send, it sends within this
	if m, err := s.ControllerMetrics(t.Context()); err == nil {
		for _, verb := range writeVerbs {
			if n := m[fmt.Sprintf(`trustsync_api_requests_total{verb=%q}`, verb)]; n != 0 {
				t.Errorf("the restarted controller sent %v %s requests", n, verb)
			}
		}
	} else {
		t.Fatal(err)
	}
	if after := d.statuses(sha); len(after) != before {
		t.Errorf("the restart posted %d new commit statuses: %+v", len(after)-before, after[:len(after)-before])
	}
	if got := live(t, ns); len(got) != 100 {
		t.Errorf("%d ConfigMaps, want 100", len(got))
	}
}

// waitReconciled waits until the drill's Sync has handled generation gen.
func waitReconciled(t *testing.T, ns string, gen int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		sy := &gitopsv1.Sync{}
		if err := s.Env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, sy); err == nil && sy.Status.ObservedGeneration >= gen {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Sync %s/%s never handled generation %d", ns, ns, gen)
}

// TestDrillGitHostDownKeepsApplying: with the Git host down, the GitSource says the
// fetch fails and why, and the last artifact keeps being applied — an object deleted by
// hand comes back; a commit status due meanwhile (a drift in warn mode) is posted once
// the host is back, and a new commit is applied and gets its status.
func TestDrillGitHostDownKeepsApplying(t *testing.T) {
	const ns = "drill-githost"
	d, first := newDrillRepo(t, ns, configMaps(ns, 0, 20, "1"))
	ctx := t.Context()
	if err := s.Gitea.Outage(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = s.Gitea.Resume(context.Background())
		}
	}()

	// The GitSource tries now, and says why it cannot.
	src := &gitopsv1.GitSource{}
	if err := s.Env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ns}, src); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(src.DeepCopy())
	src.SetAnnotations(map[string]string{gitopsv1.AnnotationReconcileRequestedAt: time.Now().Format(time.RFC3339Nano)})
	if err := s.Env.Client.Patch(ctx, src, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the GitSource reports the failed fetch", func() error {
		if err := s.Env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
			return err
		}
		c := meta.FindStatusCondition(src.Status.Conditions, gitopsv1.ReadyCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != gitopsv1.ReasonArtifactFailed || !strings.Contains(c.Message, "fetch failed") {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})

	// Drift is corrected from the last artifact meanwhile.
	cm := &corev1.ConfigMap{}
	cm.Namespace, cm.Name = ns, "cm-0003"
	if err := s.Env.Client.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted ConfigMap re-applied", func() error {
		if got := live(t, ns)["cm-0003"]; got != "1" {
			return fmt.Errorf("cm-0003 rev %q", got)
		}
		return nil
	})

	// In warn mode a drift is a failure on the commit, due while the host refuses it.
	setDriftMode(t, ns, gitopsv1.DriftWarn)
	cm.Name = "cm-0004"
	if err := s.Env.Client.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the drift reported in the Sync", func() error {
		sy := &gitopsv1.Sync{}
		if err := s.Env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ns}, sy); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(sy.Status.Conditions, gitopsv1.DriftedCondition); c == nil || c.Reason != gitopsv1.ReasonDriftDetected {
			// What the Sync says besides, and whether cm-0004 came back: what went another way.
			_, back := live(t, ns)["cm-0004"]
			return fmt.Errorf("Drift %+v; Ready %+v; generation %d; cm-0004 re-created %v", c,
				meta.FindStatusCondition(sy.Status.Conditions, gitopsv1.ReadyCondition), sy.Generation, back)
		}
		return nil
	})

	if err := s.Gitea.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	resumed = true
	// The status refused during the outage is posted once the host is back.
	eventually(t, "the drift's status on the first commit", func() error {
		st := d.statuses(first)
		if len(st) == 0 || st[0].State != "failure" || !strings.Contains(st[0].Description, "drifted") {
			return fmt.Errorf("statuses %+v", st)
		}
		return nil
	})
	setDriftMode(t, ns, gitopsv1.DriftCorrect)
	second := d.push(configMaps(ns, 0, 20, "2"), "second")
	d.wait(second, "success")
	eventually(t, "the GitSource ready again", func() error {
		if err := s.Env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(src.Status.Conditions, gitopsv1.ReadyCondition); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	for name, rev := range live(t, ns) {
		if rev != "2" {
			t.Errorf("%s at rev %q after the host came back", name, rev)
		}
	}
	if got := len(live(t, ns)); got != 20 {
		t.Errorf("%d ConfigMaps, want 20", got)
	}
}

func setDriftMode(t *testing.T, ns string, mode gitopsv1.DriftMode) {
	t.Helper()
	sy := &gitopsv1.Sync{}
	if err := s.Env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, sy); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sy.DeepCopy())
	sy.Spec.Drift = &gitopsv1.DriftSpec{Mode: mode}
	if err := s.Env.Client.Patch(t.Context(), sy, patch); err != nil {
		t.Fatal(err)
	}
}

// eventually retries check for up to a minute.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v\n%s", what, err, s.LogTail())
}

// TestDrillForcePushAppliesTheNewHead: the tracked branch's history is rewritten (a
// commit dropped, another force-pushed in its place); the new head is applied whole and
// gets its status, and the Sync says it is at that commit.
func TestDrillForcePushAppliesTheNewHead(t *testing.T) {
	const ns = "drill-forcepush"
	d, first := newDrillRepo(t, ns, configMaps(ns, 0, 20, "1"))
	second := d.push(configMaps(ns, 0, 20, "2"), "second")
	d.wait(second, "success")

	if _, err := d.repo.Git("reset", "--quiet", "--hard", first); err != nil {
		t.Fatal(err)
	}
	rewritten := d.commit(configMaps(ns, 5, 20, "3"), "the second, rewritten")
	if _, err := d.repo.Git("push", "--quiet", "--force", "origin", "main"); err != nil {
		t.Fatal(err)
	}
	d.wait(rewritten, "success")
	got := live(t, ns)
	if len(got) != 20 {
		t.Errorf("%d ConfigMaps, want the rewritten head's 20: %v", len(got), got)
	}
	for i := 5; i < 25; i++ {
		if rev := got[fmt.Sprintf("cm-%04d", i)]; rev != "3" {
			t.Errorf("cm-%04d at rev %q, want the rewritten head's 3", i, rev)
		}
	}
	sy := &gitopsv1.Sync{}
	if err := s.Env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, sy); err != nil {
		t.Fatal(err)
	}
	if want := "main@sha1:" + rewritten; sy.Status.LastAppliedRevision != want {
		t.Errorf("lastAppliedRevision %q, want %q", sy.Status.LastAppliedRevision, want)
	}
}

// TestDrillAPIServerStoppedMidApplyRetriesAndConverges: the API server is killed while
// the controller applies a revision and starts again seconds later. Meanwhile the commit's
// status says the apply failed because the API server did not answer, and the Sync is
// retried with backoff rather than after its hour-long interval; once the server is
// back the revision is applied whole — dropped objects pruned — and reported success.
func TestDrillAPIServerStoppedMidApplyRetriesAndConverges(t *testing.T) {
	const ns, total = "drill-apiserver", 400
	d, _ := newDrillRepo(t, ns, configMaps(ns, 0, total, "1"))
	sha, want := midApply(t, d, ns, total)
	if err := s.Env.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped { // the other drills share this API server
			if err := s.Env.StartAPIServer(); err != nil {
				t.Error(err)
			}
		}
	}()

	// While it is down, the commit says why (the Git host is up).
	var down giteatest.Status
	for deadline := time.Now().Add(time.Minute); down.State == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, st := range d.statuses(sha) {
			if st.State == "failure" {
				down = st
				break
			}
		}
	}
	if !strings.Contains(down.Description, "the API server did not answer") {
		t.Fatalf("while the API server is down the commit.s status is %+v, want a failure saying the API server did not answer\n%s", down, s.LogTail())
	}
	time.Sleep(5 * time.Second) // the retries meet a stopped server a few times
	if err := s.Env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if all := d.statuses(sha); len(all) > 12 {
		t.Errorf("%d commit statuses while the API server was down: retries without backoff? %+v", len(all), all)
	}

	// The commit's latest status turns to success (the failure stays behind it).
	var latest giteatest.Status
	for deadline := time.Now().Add(3 * time.Minute); latest.State != "success" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		latest = d.statuses(sha)[0]
	}
	if latest.State != "success" {
		t.Fatalf("once the API server is back the commit's latest status is %+v, want success\n%s", latest, s.LogTail())
	}
	converged(t, ns, want)
	// The status is written at the end of the reconcile that posted the success.
	sy := &gitopsv1.Sync{}
	var ready *metav1.Condition
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := s.Env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, sy); err != nil {
			t.Fatal(err)
		}
		if ready = meta.FindStatusCondition(sy.Status.Conditions, gitopsv1.ReadyCondition); ready != nil && ready.Status == metav1.ConditionTrue && sy.Status.LastAppliedRevision == "main@sha1:"+sha {
			return
		}
	}
	t.Errorf("Sync after the restart: Ready %+v, lastAppliedRevision %q", ready, sy.Status.LastAppliedRevision)
}
