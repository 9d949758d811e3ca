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

// previewed is a Gitea repository holding examples/multi-tenant on main, with a
// GitSource previewing its pull requests for one suspended Sync of ./apps.
type previewed struct {
	ws   *gittest.Workspace
	src  *gitopsv1.GitSource
	base string // main's commit
}

func newPreviewed(t *testing.T, ctx context.Context, repo, ns string) *previewed {
	t.Helper()
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
	return &previewed{ws: ws, src: src, base: base}
}

// poke asks for a reconcile of the GitSource: a push webhook for pull requests is not
// set up here, and this stands in for the interval.
func (p *previewed) poke(t *testing.T, ctx context.Context) {
	t.Helper()
	cur := &gitopsv1.GitSource{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p.src), cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	metav1.SetMetaDataAnnotation(&cur.ObjectMeta, gitopsv1.AnnotationReconcileRequestedAt, time.Now().Format(time.RFC3339Nano))
	if err := env.Client.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
}

// TestEnginePreviews: a GitSource with spec.preview previews the open pull requests of
// a real Gitea by itself — a pull request that grants new cross-namespace access gets one
// comment per Sync and a failure status on its head; a new push to it updates that
// comment; the fix turns the status to success; status.previews records each head.
func TestEnginePreviews(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const repo, ns = "previews", "pv"
	pv := newPreviewed(t, ctx, repo, ns)
	ws, src := pv.ws, pv.src

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
	poke := func() { pv.poke(t, ctx) }
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

// TestDrillPreviewOfAVanishedBaseSaysSo: the base branch of an open pull request is
// rewritten (force-pushed) after its first preview, so the commit that preview compared
// with is gone. The pull request is previewed again against the new base, and its
// comment names it, instead of the old preview standing; nothing new, nothing posted.
// (Gitea retargets a pull request whose base branch is deleted to the default branch:
// a new base too.)
func TestDrillPreviewOfAVanishedBaseSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const repo, ns = "previews-base", "pv-base"
	pv := newPreviewed(t, ctx, repo, ns)
	ws, src, base := pv.ws, pv.src, pv.base
	ws.Git(t, "checkout", "-q", "-b", "feature")
	ws.Write(t, map[string]string{"apps/team-a/README.md": "notes\n"})
	head := ws.Commit(t, "notes")
	ws.Push(t, "feature")
	if err := gitea.WaitForBranch(ctx, repo, "feature", head); err != nil {
		t.Fatal(err)
	}
	pr, err := gitea.CreatePullRequest(ctx, repo, "feature", "main", "Notes", "")
	if err != nil {
		t.Fatal(err)
	}
	poke := func() { pv.poke(t, ctx) }
	// previewedAgainst waits until status.previews holds the head previewed against
	// base, then returns the pull request's one preview comment.
	previewedAgainst := func(base string) string {
		t.Helper()
		poke()
		cur := &gitopsv1.GitSource{}
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), cur); err != nil {
				t.Fatal(err)
			}
			if p := cur.Status.Previews; len(p) == 1 && p[0].HeadSHA == head && p[0].BaseSHA == base {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status.previews %+v, want %s previewed against %s", cur.Status.Previews, head[:12], base[:12])
			}
		}
		comments, err := gitea.Comments(ctx, repo, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, c := range comments {
			if strings.HasPrefix(c.Body, "<!-- trustsync-preview:pv-base/agents -->") {
				bodies = append(bodies, c.Body)
			}
		}
		if len(bodies) != 1 {
			t.Fatalf("%d preview comments, want one", len(bodies))
		}
		return bodies[0]
	}
	if body := previewedAgainst(base); !strings.Contains(body, base[:12]) {
		t.Errorf("the first preview does not name its base %s:\n%s", base[:12], body)
	}

	// main rewritten: the commit the preview compared with is gone from the branch.
	ws.Git(t, "checkout", "-q", "main")
	ws.Write(t, map[string]string{"apps/team-b/README.md": "rewritten\n"})
	ws.Git(t, "add", "-A")
	ws.Git(t, "commit", "-q", "--amend", "-m", "two teams, rewritten")
	rewritten := strings.TrimSpace(ws.Git(t, "rev-parse", "HEAD"))
	ws.Git(t, "push", "-q", "--force", "origin", "main")
	if err := gitea.WaitForBranch(ctx, repo, "main", rewritten); err != nil {
		t.Fatal(err)
	}
	body := previewedAgainst(rewritten)
	if !strings.Contains(body, rewritten[:12]) || strings.Contains(body, base[:12]) {
		t.Errorf("the preview after the rewrite names %s, want the new base %s only:\n%s", base[:12], rewritten[:12], body)
	}

	before, err := gitea.Statuses(ctx, repo, head)
	if err != nil {
		t.Fatal(err)
	}
	poke()
	time.Sleep(3 * time.Second)
	if after, err := gitea.Statuses(ctx, repo, head); err != nil || len(after) != len(before) {
		t.Errorf("a look with nothing new posted %d statuses (%v)", len(after)-len(before), err)
	}
}
