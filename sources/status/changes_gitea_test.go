package status

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/gittest"
)

// countingTransport counts the requests that reach the host, by method.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.Method]++
	c.mu.Unlock()
	return (&http.Transport{Proxy: nil}).RoundTrip(r)
}

func (c *countingTransport) writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[http.MethodPost] + c.n[http.MethodPatch] + c.n[http.MethodPut]
}

// TestChangeRequestsGitea runs the pull-request side against a real Gitea: one marked
// comment per pull request, edited in place on new pushes, no write when nothing
// changed, reviewers' comments left alone, and the open pull requests with their heads.
func TestChangeRequestsGitea(t *testing.T) {
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
	ws.Write(t, map[string]string{"apps/agent.yaml": "kind: AgentRuntime\n"})
	base := ws.Commit(t, "an agent")
	ws.Push(t, "main")
	if err := srv.WaitForBranch(ctx, repo, "main", base); err != nil {
		t.Fatal(err)
	}
	ws.Git(t, "checkout", "-q", "-b", "grant-access")
	ws.Write(t, map[string]string{"apps/policy.yaml": "allow: team-b/planner-agent\n"})
	head1 := ws.Commit(t, "let team-b call the weather tool")
	ws.Push(t, "grant-access")
	if err := srv.WaitForBranch(ctx, repo, "grant-access", head1); err != nil {
		t.Fatal(err)
	}
	pr, err := srv.CreatePullRequest(ctx, repo, "grant-access", "main", "Let team-b call the weather tool", "")
	if err != nil {
		t.Fatal(err)
	}
	remark, err := srv.CreateComment(ctx, repo, pr.Number, "Is this cross-namespace call intended?")
	if err != nil {
		t.Fatal(err)
	}

	counter := &countingTransport{n: map[string]int{}}
	cr, err := NewChangeRequests(Options{Provider: Gitea, RepoURL: cloneURL, Token: srv.Token, HTTPClient: &http.Client{Transport: counter, Timeout: 15 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	marker := Marker("e2e/agents")

	ours := func(t *testing.T) giteatest.Comment {
		t.Helper()
		list, err := srv.Comments(ctx, repo, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		var found []giteatest.Comment
		for _, c := range list {
			if strings.Contains(c.Body, marker) {
				found = append(found, c)
			}
		}
		if len(list) != 1+len(found) || list[0].ID != remark.ID || list[0].Body != remark.Body {
			t.Errorf("comments = %+v, want the remark untouched and ours", list)
		}
		if len(found) != 1 {
			t.Fatalf("%d comments carry the marker, want exactly 1: %+v", len(found), found)
		}
		return found[0]
	}

	first, err := cr.UpsertComment(ctx, pr.Number, marker, "## Preview\n\n1 access change")
	if err != nil {
		t.Fatal(err)
	}
	if first.Action != CommentCreated {
		t.Errorf("first upsert = %+v, want created", first)
	}
	second, err := cr.UpsertComment(ctx, pr.Number, marker, "## Preview\n\n2 access changes")
	if err != nil {
		t.Fatal(err)
	}
	if second.Action != CommentUpdated || second.ID != first.ID {
		t.Errorf("second upsert = %+v, want updated, id %d", second, first.ID)
	}
	c := ours(t)
	if want := marker + "\n## Preview\n\n2 access changes"; c.Body != want || c.ID != first.ID {
		t.Errorf("comment %d body = %q, want comment %d with %q", c.ID, c.Body, first.ID, want)
	}
	if first.URL == "" || first.URL != c.URL || second.URL != c.URL {
		t.Errorf("result URLs %q, %q; want Gitea's %q", first.URL, second.URL, c.URL)
	}

	writes := counter.writes()
	same, err := cr.UpsertComment(ctx, pr.Number, marker, "## Preview\n\n2 access changes")
	if err != nil {
		t.Fatal(err)
	}
	if same.Action != CommentUnchanged || same.ID != first.ID {
		t.Errorf("same-body upsert = %+v, want unchanged, id %d", same, first.ID)
	}
	if n := counter.writes() - writes; n != 0 {
		t.Errorf("same-body upsert sent %d writes to Gitea, want none", n)
	}

	prs, err := cr.OpenPullRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := PullRequest{Number: pr.Number, Title: "Let team-b call the weather tool", HeadSHA: head1, HeadBranch: "grant-access",
		BaseBranch: "main", HeadRef: "refs/pull/" + strconv.Itoa(pr.Number) + "/head", URL: pr.URL}
	if len(prs) != 1 || prs[0] != want {
		t.Fatalf("OpenPullRequests = %+v, want [%+v]", prs, want)
	}
	if out := ws.Git(t, "ls-remote", "origin", want.HeadRef); !strings.HasPrefix(out, head1) {
		t.Errorf("ls-remote %s = %q, want the head %s: HeadRef must be fetchable", want.HeadRef, out, head1)
	}

	// A new push: the same comment is edited, not a second one added.
	ws.Write(t, map[string]string{"apps/policy.yaml": "allow: team-b/planner-agent\nallow: team-c/agent\n"})
	head2 := ws.Commit(t, "and team-c")
	ws.Push(t, "grant-access")
	if _, err := srv.WaitForPullRequestHead(ctx, repo, pr.Number, head2); err != nil {
		t.Fatal(err)
	}
	if prs, err = cr.OpenPullRequests(ctx); err != nil || len(prs) != 1 || prs[0].HeadSHA != head2 {
		t.Fatalf("OpenPullRequests after a push = %+v, %v; want the head %s", prs, err, head2)
	}
	third, err := cr.UpsertComment(ctx, pr.Number, marker, "## Preview\n\n3 access changes")
	if err != nil {
		t.Fatal(err)
	}
	if third.Action != CommentUpdated || third.ID != first.ID {
		t.Errorf("upsert after a push = %+v, want updated, id %d", third, first.ID)
	}
	if c := ours(t); !strings.HasSuffix(c.Body, "3 access changes") {
		t.Errorf("comment after a push = %q", c.Body)
	}

	t.Run("too long for a comment", func(t *testing.T) {
		long := "```\n" + strings.Repeat("team-b/planner-agent → team-a/weather-tool: allow\n", 3000) + "```\n"
		m := Marker("e2e/long")
		res, err := cr.UpsertComment(ctx, pr.Number, m, long)
		if err != nil || res.Action != CommentCreated || !res.Truncated {
			t.Fatalf("upsert = %+v, %v; want created and truncated", res, err)
		}
		list, err := srv.Comments(ctx, repo, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		stored := list[len(list)-1].Body
		if len(stored) > giteaMaxBody || !strings.HasPrefix(stored, m) || !strings.Contains(stored, "**Cut**") {
			t.Errorf("stored %d bytes (limit %d), marker first %v", len(stored), giteaMaxBody, strings.HasPrefix(stored, m))
		}
		writes := counter.writes()
		if res, err := cr.UpsertComment(ctx, pr.Number, m, long); err != nil || res.Action != CommentUnchanged {
			t.Errorf("repeat upsert = %+v, %v; want unchanged", res, err)
		}
		if n := counter.writes() - writes; n != 0 {
			t.Errorf("repeat upsert sent %d writes", n)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		const wrong = "0123456789abcdef0123456789abcdef01234567"
		bad, err := NewChangeRequests(Options{Provider: Gitea, RepoURL: cloneURL, Token: wrong})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.UpsertComment(ctx, pr.Number, marker, "x")
		var ce *ChangeRequestError
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusUnauthorized || strings.Contains(err.Error(), wrong) {
			t.Errorf("error = %v, want HTTP 401 without the token", err)
		}
	})
}
