package ctrlkit

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// TestPatchStatus: nothing changed sends nothing; a change is written; a write based on
// an object older than the last status write is a conflict, not a lost update.
func TestPatchStatus(t *testing.T) {
	ctx := context.Background()
	patches := 0
	base, err := client.NewWithWatch(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	c := interceptor.NewClient(base, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})

	src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "patch-status"},
		Spec: gitopsv1.GitSourceSpec{URL: "https://git.example/repo.git", Interval: metav1.Duration{Duration: 60e9}}}
	if err := c.Create(ctx, src); err != nil {
		t.Fatal(err)
	}

	before := src.DeepCopy()
	if wrote, err := PatchStatus(ctx, c, src, before); err != nil || wrote || patches != 0 {
		t.Fatalf("unchanged status: wrote=%v err=%v patches=%d, want nothing sent", wrote, err, patches)
	}

	conditions.MarkTrue(src, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "ok")
	if wrote, err := PatchStatus(ctx, c, src, before); err != nil || !wrote || patches != 1 {
		t.Fatalf("changed status: wrote=%v err=%v patches=%d, want one write", wrote, err, patches)
	}
	got := &gitopsv1.GitSource{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(src), got); err != nil || !conditions.IsTrue(got, gitopsv1.ReadyCondition) {
		t.Fatalf("status not stored: %v %+v", err, got.Status)
	}

	// A reconcile that read the object before that write must not overwrite it.
	stale := before.DeepCopy()
	staleBefore := stale.DeepCopy()
	conditions.MarkFalse(stale, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "old news")
	if _, err := PatchStatus(ctx, c, stale, staleBefore); !apierrors.IsConflict(err) {
		t.Fatalf("stale write: %v, want a conflict", err)
	}
}

func TestRequests(t *testing.T) {
	items := []gitopsv1.Sync{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "one"}}, {ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "two"}}}
	reqs := Requests(items)
	if len(reqs) != 2 || reqs[0].Namespace != "a" || reqs[0].Name != "one" || reqs[1].Namespace != "b" || reqs[1].Name != "two" {
		t.Fatalf("got %v", reqs)
	}
	if got := Requests([]gitopsv1.Sync{}); len(got) != 0 {
		t.Fatalf("empty list: %v", got)
	}
}

// TestMergeStatus: a controller owning one status field writes it beside another's
// newer write, without a conflict and without undoing it.
func TestMergeStatus(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "merge-status"},
		Spec: gitopsv1.GitSourceSpec{URL: "https://git.example/repo.git", Interval: metav1.Duration{Duration: 60e9}}}
	if err := c.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	stale := src.DeepCopy()

	conditions.MarkTrue(src, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "fetched")
	if _, err := PatchStatus(ctx, c, src, stale.DeepCopy()); err != nil {
		t.Fatal(err)
	}

	before := stale.DeepCopy()
	stale.Status.Previews = []gitopsv1.PreviewStatus{{Number: 7, HeadSHA: "0123456789012345678901234567890123456789", State: "success", PreviewedAt: metav1.Now()}}
	if wrote, err := MergeStatus(ctx, c, stale, before); err != nil || !wrote {
		t.Fatalf("MergeStatus: wrote=%v err=%v", wrote, err)
	}
	got := &gitopsv1.GitSource{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(src), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Previews) != 1 || !conditions.IsTrue(got, gitopsv1.ReadyCondition) {
		t.Fatalf("want both writes kept, got %+v", got.Status)
	}
}

// TestFinishStatus: a written status requeues as asked; a stale object runs again soon,
// without an error (and its backoff); a deleted one ends the reconcile.
func TestFinishStatus(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "finish-status"},
		Spec: gitopsv1.GitSourceSpec{URL: "https://git.example/repo.git", Interval: metav1.Duration{Duration: 60e9}}}
	if err := c.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	stale := src.DeepCopy()

	before := src.DeepCopy()
	conditions.MarkTrue(src, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "ok")
	if res, err := FinishStatus(ctx, c, src, before, time.Minute); err != nil || res.RequeueAfter != time.Minute {
		t.Fatalf("written: %+v %v, want a requeue after 1m", res, err)
	}

	staleBefore := stale.DeepCopy()
	conditions.MarkFalse(stale, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "old news")
	if res, err := FinishStatus(ctx, c, stale, staleBefore, time.Minute); err != nil || res.RequeueAfter != ConflictRetry {
		t.Fatalf("stale: %+v %v, want a retry after %v without an error", res, err, ConflictRetry)
	}

	if err := c.Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
	gone := src.DeepCopy()
	goneBefore := gone.DeepCopy()
	conditions.MarkFalse(gone, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "late")
	if res, err := FinishStatus(ctx, c, gone, goneBefore, time.Minute); err != nil || res.RequeueAfter != 0 {
		t.Fatalf("deleted: %+v %v, want the end of the reconcile", res, err)
	}
}
