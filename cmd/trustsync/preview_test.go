package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/gittest"
)

// copyExample writes examples/multi-tenant and the examples' platform file into a
// workspace.
func copyExample(t *testing.T, ws *gittest.Workspace) {
	t.Helper()
	files := map[string]string{}
	root := filepath.Join("..", "..", "examples")
	err := filepath.WalkDir(filepath.Join(root, "multi-tenant"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files["platform.yaml"] = string(data)
	ws.Write(t, files)
}

// grant lets team-b's planner-agent into team-a, a new cross-namespace call.
func grant(t *testing.T, ws *gittest.Workspace, extra string) {
	t.Helper()
	p := filepath.Join(ws.Dir, "multi-tenant", "team-a", "policies.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const rule = "        allow if regex.match(`^spiffe://[^/]+/ns/team-a/sa/[^/]+$`, input.identity.client_id)\n"
	s := strings.Replace(string(data), rule, rule+"\n        # The planner calls back with results"+extra+".\n        allow if regex.match(`^spiffe://[^/]+/ns/team-b/sa/planner-agent$`, input.identity.client_id)\n", 1)
	if s == string(data) {
		t.Fatal("the team-a policy did not change")
	}
	ws.Write(t, map[string]string{"multi-tenant/team-a/policies.yaml": s})
}

// TestPreviewOnGitea runs trustsync preview --post against a real Gitea: a pull request
// that grants new cross-namespace access gets one comment and a failure status on its
// head; a second push updates the same comment, it adds none; the fix turns the status
// to success, still in the same comment.
func TestPreviewOnGitea(t *testing.T) {
	if _, err := giteatest.Binary(); err != nil {
		t.Fatal(err) // a test that needs the real forge never skips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := giteatest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	const repo = "agents"
	cloneURL, err := srv.CreateRepo(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	ws := gittest.Clone(t, cloneURL, srv.AuthHeader())
	copyExample(t, ws)
	base := ws.Commit(t, "two teams")
	ws.Push(t, "main")
	if err := srv.WaitForBranch(ctx, repo, "main", base); err != nil {
		t.Fatal(err)
	}
	ws.Git(t, "checkout", "-q", "-b", "callback")
	grant(t, ws, "")
	head := ws.Commit(t, "let the planner call back")
	ws.Push(t, "callback")
	if err := srv.WaitForBranch(ctx, repo, "callback", head); err != nil {
		t.Fatal(err)
	}
	pr, err := srv.CreatePullRequest(ctx, repo, "callback", "main", "Let the planner call back", "")
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("TRUSTSYNC_TEST_GITEA_TOKEN", srv.Token)
	preview := func() error {
		_, _, err := run("preview", filepath.Join(ws.Dir, "multi-tenant"), "--repo", ws.Dir, "--platform", filepath.Join(ws.Dir, "platform.yaml"),
			"--base", "main", "--head", "HEAD", "--post", "--provider", "gitea", "--repo-url", cloneURL,
			"--pr", strconv.Itoa(pr.Number), "--token-env", "TRUSTSYNC_TEST_GITEA_TOKEN")
		return err
	}
	marked := func() []giteatest.Comment {
		t.Helper()
		comments, err := srv.Comments(ctx, repo, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		var out []giteatest.Comment
		for _, c := range comments {
			if strings.HasPrefix(c.Body, "<!-- trustsync-preview:multi-tenant -->") {
				out = append(out, c)
			}
		}
		return out
	}
	state := func(sha string) string {
		t.Helper()
		st, err := srv.CombinedStatus(ctx, repo, sha)
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}

	// 1. The grant: the preview fails, one comment says what changed, the head fails.
	var failed *previewFailed
	if err := preview(); !errors.As(err, &failed) {
		t.Fatalf("preview of a cross-namespace grant: %v, want it to fail", err)
	}
	comments := marked()
	if len(comments) != 1 {
		t.Fatalf("%d preview comments, want 1", len(comments))
	}
	first := comments[0]
	for _, want := range []string{"team-b/planner-agent may now call team-a/research-agent", "multi-tenant/team-a/policies.yaml: AuthorizationPolicy team-a/team-a (inbound/request.rego)", "4 passed, 0 failed"} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("the comment does not say %q:\n%s", want, first.Body)
		}
	}
	if got := state(head); got != "failure" {
		t.Errorf("head status %q, want failure", got)
	}

	// 2. Another push: the same comment, updated; no second one.
	grantAgain := func(extra string) string {
		ws.Git(t, "checkout", "-q", base, "--", "multi-tenant/team-a/policies.yaml")
		grant(t, ws, extra)
		sha := ws.Commit(t, "reword")
		ws.Push(t, "callback")
		if _, err := srv.WaitForPullRequestHead(ctx, repo, pr.Number, sha); err != nil {
			t.Fatal(err)
		}
		return sha
	}
	head = grantAgain(" (reworded)")
	if err := preview(); !errors.As(err, &failed) {
		t.Fatalf("second preview: %v, want it to fail", err)
	}
	comments = marked()
	if len(comments) != 1 || comments[0].ID != first.ID || !strings.Contains(comments[0].Body, head[:12]) {
		t.Fatalf("after a second push: %d comments (first id %d), want the same one naming %s", len(comments), first.ID, head[:12])
	}
	if got := state(head); got != "failure" {
		t.Errorf("head status %q, want failure", got)
	}

	// 3. The fix (the grant taken back): success, in the same comment.
	ws.Git(t, "checkout", "-q", base, "--", "multi-tenant/team-a/policies.yaml")
	fix := ws.Commit(t, "no callback after all")
	ws.Push(t, "callback")
	if _, err := srv.WaitForPullRequestHead(ctx, repo, pr.Number, fix); err != nil {
		t.Fatal(err)
	}
	if err := preview(); err != nil {
		t.Fatalf("preview of the fix: %v", err)
	}
	comments = marked()
	if len(comments) != 1 || comments[0].ID != first.ID || !strings.Contains(comments[0].Body, "✅ passes") {
		t.Fatalf("after the fix: %d comments, want the same one saying it passes", len(comments))
	}
	if got := state(fix); got != "success" {
		t.Errorf("fixed head status %q, want success", got)
	}
}
