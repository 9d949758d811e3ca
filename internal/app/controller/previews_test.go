package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/gittest"
)

// TestEnginePreviews: a GitSource with spec.preview previews the open pull requests of
// a real Gitea by itself — a pull request that grants new cross-namespace access gets one
// comment per Sync and a failure status on its head; a new push to it updates that
// comment; the fix turns the status to success; status.previews records each head.
func TestEnginePreviews(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const repo, ns = "previews", "pv"
	cloneURL, err := gitea.CreateRepo(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	ws := gittest.Clone(t, cloneURL, gitea.AuthHeader())
	ws.Write(t, example(t, "multi-tenant"))
	base := ws.Commit(t, "two teams")
	ws.Push(t, "main")
	if err := gitea.WaitForBranch(ctx, repo, "main", base); err != nil {
		t.Fatal(err)
	}

	src := &gitopsv1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
		Spec: gitopsv1.GitSourceSpec{
			URL: cloneURL, Ref: &gitopsv1.GitRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Hour},
			SecretRef:    &gitopsv1.LocalObjectReference{Name: "git"},
			CommitStatus: &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "gitea-token"}},
			Preview:      &gitopsv1.PreviewSpec{FailOn: "cross-namespace"},
		},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gitea-token"}, StringData: map[string]string{"token": gitea.Token}},
		src,
		// Suspended: previews need no apply, and another test of this package applies the
		// same example.
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
			Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./apps", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	policies := filepath.Join(ws.Dir, "apps", "team-a", "policies.yaml")
	original, err := os.ReadFile(policies)
	if err != nil {
		t.Fatal(err)
	}
	const rule = "        allow if regex.match(`^spiffe://[^/]+/ns/team-a/sa/[^/]+$`, input.identity.client_id)\n"
	push := func(content, msg string) string {
		t.Helper()
		ws.Write(t, map[string]string{"apps/team-a/policies.yaml": content})
		sha := ws.Commit(t, msg)
		ws.Push(t, "callback")
		if err := gitea.WaitForBranch(ctx, repo, "callback", sha); err != nil {
			t.Fatal(err)
		}
		return sha
	}
	grant := func(comment string) string {
		return strings.Replace(string(original), rule, rule+"\n        # "+comment+"\n        allow if regex.match(`^spiffe://[^/]+/ns/team-b/sa/planner-agent$`, input.identity.client_id)\n", 1)
	}
	ws.Git(t, "checkout", "-q", "-b", "callback")
	head := push(grant("The planner calls back."), "let the planner call back")
	pr, err := gitea.CreatePullRequest(ctx, repo, "callback", "main", "Let the planner call back", "")
	if err != nil {
		t.Fatal(err)
	}
	// A push webhook for pull requests is not set up here: asking for a reconcile stands in
	// for the interval.
	poke := func() {
		t.Helper()
		cur := &gitopsv1.GitSource{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), cur); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		metav1.SetMetaDataAnnotation(&cur.ObjectMeta, gitopsv1.AnnotationReconcileRequestedAt, time.Now().Format(time.RFC3339Nano))
		if err := env.Client.Patch(ctx, cur, patch); err != nil {
			t.Fatal(err)
		}
	}
	const marker = "<!-- trustsync-preview:pv/agents -->"
	const statusContext = "trustsync/preview/pv/agents"
	// waitFor waits until the pull request's preview of sha has state, and returns the
	// one preview comment.
	waitFor := func(sha, state string) giteatest.Comment {
		t.Helper()
		poke()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			comments, err := gitea.Comments(ctx, repo, pr.Number)
			if err != nil {
				t.Fatal(err)
			}
			var marked []giteatest.Comment
			for _, c := range comments {
				if strings.HasPrefix(c.Body, marker) {
					marked = append(marked, c)
				}
			}
			if len(marked) > 1 {
				t.Fatalf("%d preview comments, want one", len(marked))
			}
			st, err := gitea.CombinedStatus(ctx, repo, sha)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st.Statuses {
				if s.Context == statusContext && s.State == state && len(marked) == 1 && strings.Contains(marked[0].Body, sha[:12]) {
					return marked[0]
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("no %s preview of %s", state, sha[:12])
		return giteatest.Comment{}
	}

	first := waitFor(head, "failure")
	if !strings.Contains(first.Body, "team-b/planner-agent may now call team-a/research-agent") {
		t.Errorf("the comment does not say what changed:\n%s", first.Body)
	}
	// The commit status is posted during the reconcile, the GitSource's status written
	// at its end: wait for it.
	recorded := func(sha, state string) {
		t.Helper()
		cur := &gitopsv1.GitSource{}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), cur); err != nil {
				t.Fatal(err)
			}
			if len(cur.Status.Previews) == 1 && cur.Status.Previews[0].Number == pr.Number && cur.Status.Previews[0].HeadSHA == sha && cur.Status.Previews[0].State == state {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("status.previews %+v, want pull request %d at %s: %s", cur.Status.Previews, pr.Number, sha[:12], state)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	recorded(head, "failure")

	head = push(grant("The planner calls back with results."), "reword")
	if again := waitFor(head, "failure"); again.ID != first.ID {
		t.Errorf("a new comment (%d) instead of the one preview comment (%d)", again.ID, first.ID)
	}
	recorded(head, "failure")

	fix := push(string(original), "no callback after all")
	if fixed := waitFor(fix, "success"); fixed.ID != first.ID || !strings.Contains(fixed.Body, "✅ passes") {
		t.Errorf("after the fix: comment %d, want %d saying it passes:\n%s", fixed.ID, first.ID, fixed.Body)
	}
	recorded(fix, "success")
}
