package giteatest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PullRequest is a pull request as Gitea reports it, reduced to what tests check.
type PullRequest struct {
	Number     int // the index, what /issues/{index}/comments takes
	Title      string
	State      string // open or closed
	HeadBranch string
	HeadSHA    string
	BaseBranch string
	URL        string // web page
}

type apiPull struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	State   string `json:"state"`
	HTMLURL string `json:"html_url"`
	Head    struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (p apiPull) pullRequest() PullRequest {
	return PullRequest{Number: p.Number, Title: p.Title, State: p.State, HeadBranch: p.Head.Ref,
		HeadSHA: p.Head.SHA, BaseBranch: p.Base.Ref, URL: p.HTMLURL}
}

func (s *Server) repoPath(repo string) string {
	return "/repos/" + url.PathEscape(s.User) + "/" + url.PathEscape(repo)
}

// WaitForBranch polls until branch of repo is at sha in Gitea's database. Gitea handles a
// push in a background queue: until it has, the API may call a repository empty or a
// branch missing or old, so a test that pushes and then uses the API waits for this
// first. The wait is bounded by ctx and by one minute.
func (s *Server) WaitForBranch(ctx context.Context, repo, branch, sha string) error {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	path := s.repoPath(repo) + "/branches/" + url.PathEscape(branch)
	for {
		var b struct {
			Commit struct {
				ID string `json:"id"`
			} `json:"commit"`
		}
		err := s.call(ctx, http.MethodGet, path, nil, http.StatusOK, &b, false)
		if err == nil && b.Commit.ID == sha {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("branch %s of %s: at %q, want %s: %w", branch, repo, b.Commit.ID, sha, errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// CreateBranch creates branch in the admin user's repository repo at from, which may be a
// branch, a tag or a full commit SHA, without a git push.
func (s *Server) CreateBranch(ctx context.Context, repo, branch, from string) error {
	body := map[string]string{"new_branch_name": branch, "old_ref_name": from}
	if err := s.call(ctx, http.MethodPost, s.repoPath(repo)+"/branches", body, http.StatusCreated, nil, false); err != nil {
		return fmt.Errorf("creating branch %s at %s in %s: %w", branch, from, repo, err)
	}
	return nil
}

// CreatePullRequest opens a pull request in the admin user's repository repo from branch
// head into branch base; both must already exist on the server.
func (s *Server) CreatePullRequest(ctx context.Context, repo, head, base, title, body string) (PullRequest, error) {
	var p apiPull
	in := map[string]string{"head": head, "base": base, "title": title, "body": body}
	if err := s.call(ctx, http.MethodPost, s.repoPath(repo)+"/pulls", in, http.StatusCreated, &p, false); err != nil {
		return PullRequest{}, fmt.Errorf("opening a pull request %s → %s in %s: %w", head, base, repo, err)
	}
	return p.pullRequest(), nil
}

// GetPullRequest reads pull request number of repo.
func (s *Server) GetPullRequest(ctx context.Context, repo string, number int) (PullRequest, error) {
	var p apiPull
	if err := s.call(ctx, http.MethodGet, fmt.Sprintf("%s/pulls/%d", s.repoPath(repo), number), nil, http.StatusOK, &p, false); err != nil {
		return PullRequest{}, fmt.Errorf("reading pull request %d of %s: %w", number, repo, err)
	}
	return p.pullRequest(), nil
}

// WaitForPullRequestHead polls pull request number of repo until its head is sha and
// returns it. Gitea moves a pull request's head after a push in a background queue, so
// a test that pushes and then lists pull requests must wait for this first. The wait is
// bounded by ctx and by one minute.
func (s *Server) WaitForPullRequestHead(ctx context.Context, repo string, number int, sha string) (PullRequest, error) {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := s.GetPullRequest(ctx, repo, number)
		if err == nil && p.HeadSHA == sha {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("pull request %d of %s: head %s, want %s: %w", number, repo, p.HeadSHA, sha, errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// Comment is one comment on a pull request (or issue) as Gitea reports it.
type Comment struct {
	ID      int64     `json:"id"`
	Body    string    `json:"body"`
	URL     string    `json:"html_url"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
	User    struct {
		Login string `json:"login"`
	} `json:"user"`
}

// Comments lists the comments on pull request (or issue) number of repo, oldest first.
// Gitea answers them all at once; events such as pushes and status changes are not
// comments and are not listed.
func (s *Server) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	var list []Comment
	if err := s.call(ctx, http.MethodGet, fmt.Sprintf("%s/issues/%d/comments", s.repoPath(repo), number), nil, http.StatusOK, &list, false); err != nil {
		return nil, fmt.Errorf("listing comments of %d in %s: %w", number, repo, err)
	}
	return list, nil
}

// CreateComment adds a comment to pull request (or issue) number of repo as the admin
// user, e.g. a reviewer's remark the tool under test must leave alone.
func (s *Server) CreateComment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	var c Comment
	path := fmt.Sprintf("%s/issues/%d/comments", s.repoPath(repo), number)
	if err := s.call(ctx, http.MethodPost, path, map[string]string{"body": body}, http.StatusCreated, &c, false); err != nil {
		return Comment{}, fmt.Errorf("commenting on %d in %s: %w", number, repo, err)
	}
	return c, nil
}

// CombinedStatus is Gitea's combined view of the statuses of one commit: State is the
// worst of the newest status of every context ("" when there is none).
type CombinedStatus struct {
	State    string   `json:"state"`
	SHA      string   `json:"sha"`
	Statuses []Status `json:"statuses"` // the newest status per context
}

// CombinedStatus returns the combined status of ref (a SHA, branch or tag) in repo.
func (s *Server) CombinedStatus(ctx context.Context, repo, ref string) (CombinedStatus, error) {
	var cs CombinedStatus
	path := fmt.Sprintf("%s/commits/%s/status", s.repoPath(repo), url.PathEscape(ref))
	if err := s.call(ctx, http.MethodGet, path, nil, http.StatusOK, &cs, false); err != nil {
		return CombinedStatus{}, fmt.Errorf("reading the combined status of %s in %s: %w", ref, repo, err)
	}
	return cs, nil
}

// Bounds of Reported's walk over the admin user's repositories.
const (
	reportedPageSize = 50
	maxReportedPages = 20
)

// Reported is everything written to the admin user's repositories through the API, by
// source: every commit status's description and target URL on every branch's commits,
// and every pull-request comment; for a scan of what a tool under test reported.
func (s *Server) Reported(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	repos, err := pages[struct {
		Name string `json:"name"`
	}](ctx, s, "/user/repos")
	if err != nil {
		return nil, err
	}
	for _, r := range repos {
		branches, err := pages[struct {
			Name string `json:"name"`
		}](ctx, s, s.repoPath(r.Name)+"/branches")
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, b := range branches {
			commits, err := pages[struct {
				SHA string `json:"sha"`
			}](ctx, s, s.repoPath(r.Name)+"/commits?stat=false&verification=false&files=false&sha="+url.QueryEscape(b.Name))
			if err != nil {
				return nil, err
			}
			for _, c := range commits {
				if seen[c.SHA] {
					continue
				}
				seen[c.SHA] = true
				statuses, err := s.Statuses(ctx, r.Name, c.SHA)
				if err != nil {
					return nil, err
				}
				for i, st := range statuses {
					out[fmt.Sprintf("commit status %d of %s@%s", i, r.Name, c.SHA[:12])] = st.Context + " " + st.Description + " " + st.TargetURL
				}
			}
		}
		pulls, err := pages[apiPull](ctx, s, s.repoPath(r.Name)+"/pulls?state=all")
		if err != nil {
			return nil, err
		}
		for _, p := range pulls {
			comments, err := s.Comments(ctx, r.Name, p.Number)
			if err != nil {
				return nil, err
			}
			for _, c := range comments {
				out[fmt.Sprintf("comment %d on %s#%d", c.ID, r.Name, p.Number)] = c.Body
			}
		}
	}
	return out, nil
}

// pages lists an API collection page by page, a bounded number of pages.
func pages[T any](ctx context.Context, s *Server, path string) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []T
	for page := 1; page <= maxReportedPages; page++ {
		var batch []T
		if err := s.call(ctx, http.MethodGet, fmt.Sprintf("%s%slimit=%d&page=%d", path, sep, reportedPageSize, page), nil, http.StatusOK, &batch, false); err != nil {
			return nil, fmt.Errorf("listing %s: %w", path, err)
		}
		all = append(all, batch...)
		if len(batch) < reportedPageSize {
			return all, nil
		}
	}
	return nil, fmt.Errorf("listing %s: more than %d pages", path, maxReportedPages)
}
