package giteatest

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestPullRequests drives the pull-request helpers against a real Gitea: a branch made
// through the API and one pushed with git, a pull request, its comments, its head moving
// after a push, and the combined status of the head.
func TestPullRequests(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Fatal(err) // a test that needs the real forge never skips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	const repo = "prs"
	cloneURL, err := srv.CreateRepo(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	base := commit(t, work, "base")
	git(t, work, "push", "-q", srv.BasicAuthURL(cloneURL), "main")
	if err := srv.WaitForBranch(ctx, repo, "main", base); err != nil {
		t.Fatal(err)
	}

	// A branch created at a commit, through the API.
	if err := srv.CreateBranch(ctx, repo, "at-base", base); err != nil {
		t.Fatal(err)
	}
	if out := git(t, work, "ls-remote", srv.BasicAuthURL(cloneURL), "refs/heads/at-base"); len(out) < 40 || out[:40] != base {
		t.Errorf("ls-remote at-base = %q, want %s", out, base)
	}

	// A branch pushed with git, and a pull request from it.
	git(t, work, "checkout", "-q", "-b", "feature")
	head1 := commit(t, work, "feature-1")
	git(t, work, "push", "-q", srv.BasicAuthURL(cloneURL), "feature")
	if err := srv.WaitForBranch(ctx, repo, "feature", head1); err != nil {
		t.Fatal(err)
	}
	pr, err := srv.CreatePullRequest(ctx, repo, "feature", "main", "grant access", "please review")
	if err != nil {
		t.Fatal(err)
	}
	want := PullRequest{Number: pr.Number, Title: "grant access", State: "open", HeadBranch: "feature", HeadSHA: head1, BaseBranch: "main", URL: pr.URL}
	if pr != want || pr.Number < 1 || pr.URL != srv.URL+srv.User+"/"+repo+"/pulls/"+strconv.Itoa(pr.Number) {
		t.Errorf("CreatePullRequest = %+v, want %+v at %spulls/N", pr, want, srv.URL+srv.User+"/"+repo+"/")
	}

	comments, err := srv.Comments(ctx, repo, pr.Number)
	if err != nil || len(comments) != 0 {
		t.Fatalf("Comments of a new pull request = %+v, %v; want none", comments, err)
	}
	c, err := srv.CreateComment(ctx, repo, pr.Number, "a reviewer's remark")
	if err != nil {
		t.Fatal(err)
	}
	comments, err = srv.Comments(ctx, repo, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	if len(comments) != 1 || comments[0].ID != c.ID || comments[0].Body != "a reviewer's remark" || comments[0].User.Login != srv.User || comments[0].URL == "" {
		t.Errorf("Comments = %+v, want the one remark by %s with a URL", comments, srv.User)
	}

	// A new push moves the head, in Gitea's background queue.
	head2 := commit(t, work, "feature-2")
	git(t, work, "push", "-q", srv.BasicAuthURL(cloneURL), "feature")
	got, err := srv.WaitForPullRequestHead(ctx, repo, pr.Number, head2)
	if err != nil {
		t.Fatal(err)
	}
	if got.HeadSHA != head2 {
		t.Errorf("head after push = %s, want %s", got.HeadSHA, head2)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if _, err := srv.WaitForPullRequestHead(short, repo, pr.Number, head1); err == nil {
		t.Errorf("WaitForPullRequestHead for the old head succeeded")
	}

	cs, err := srv.CombinedStatus(ctx, repo, head2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Statuses) != 0 {
		t.Errorf("combined status of a fresh commit = %+v, want no statuses", cs)
	}
	postStatus(t, srv, repo, head2, `{"state":"success","context":"trustsync/preview/a","description":"no new access"}`)
	postStatus(t, srv, repo, head2, `{"state":"pending","context":"trustsync/preview/b","description":"rendering"}`)
	postStatus(t, srv, repo, head2, `{"state":"failure","context":"trustsync/preview/b","description":"new cross-namespace access"}`)
	cs, err = srv.CombinedStatus(ctx, repo, "feature") // a branch name works too
	if err != nil {
		t.Fatal(err)
	}
	if cs.State != "failure" || cs.SHA != head2 || len(cs.Statuses) != 2 {
		t.Errorf("combined status = %+v, want failure on %s from the newest of 2 contexts", cs, head2)
	}
	for _, s := range cs.Statuses {
		if s.Context == "trustsync/preview/b" && (s.State != "failure" || s.Description != "new cross-namespace access") {
			t.Errorf("context b in the combined status = %+v, want its newest, failure", s)
		}
	}
}
