package status

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// giteaChanges follows Gitea's issue-comment and pull endpoints, which take GitHub's
// paths and shapes. Gitea 1.26 answers a pull request's comments in one list, without
// pages; the pull list comes at most 50 at a time.
type giteaChanges struct {
	c    *client
	repo string // {Address}/repos/{owner}/{repo}
}

// giteaMaxBody: Gitea documents no limit (the column is LONGTEXT); GitHub's keeps a
// comment readable and a preview the same on both.
const giteaMaxBody = 65536

func (a *giteaChanges) bodyLimit() (int, string) {
	return giteaMaxBody, "trustsync's Gitea comment limit of 65,536 bytes"
}

func (a *giteaChanges) findComment(ctx context.Context, number int, marker, author string) (hostComment, bool, error) {
	return findLinked(ctx, a.c, a.repo+"/issues/"+strconv.Itoa(number)+"/comments", marker, author)
}

func (a *giteaChanges) self(ctx context.Context) (string, error) { return githubSelf(ctx, a.c, a.repo) }

func (a *giteaChanges) createComment(ctx context.Context, number int, body string) (hostComment, error) {
	var c githubComment
	_, err := a.c.send(ctx, http.MethodPost, a.repo+"/issues/"+strconv.Itoa(number)+"/comments", map[string]string{"body": body}, &c)
	return c.host(), err
}

func (a *giteaChanges) updateComment(ctx context.Context, _ int, id int64, body string) (hostComment, error) {
	var c githubComment
	_, err := a.c.send(ctx, http.MethodPatch, a.repo+"/issues/comments/"+strconv.FormatInt(id, 10), map[string]string{"body": body}, &c)
	return c.host(), err
}

// giteaPageSize is Gitea's default MAX_RESPONSE_ITEMS; a server configured lower answers
// shorter pages, which X-Total-Count still accounts for.
const giteaPageSize = 50

func (a *giteaChanges) openPullRequests(ctx context.Context) ([]PullRequest, error) {
	q := url.Values{"state": {"open"}, "limit": {strconv.Itoa(giteaPageSize)}, "page": {"1"}}
	var out []PullRequest
	// Gitea's Link header is built from its ROOT_URL, which need not be the address the API
	// is reached at (an in-cluster service, say); the page number and X-Total-Count are
	// what it honours everywhere.
	next := func(h http.Header, current string) (string, error) {
		total, err := strconv.Atoi(h.Get("X-Total-Count"))
		if err != nil {
			return nextLink(h, current)
		}
		if len(out) >= total {
			return "", nil
		}
		return nextPage(current)
	}
	err := paginate(ctx, a.c, a.repo+"/pulls?"+q.Encode(), maxOpenPullRequests/giteaPageSize, next, func(list []githubPull) (bool, error) {
		for _, p := range list {
			out = append(out, p.pullRequest())
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nextPage is current with its page parameter one higher.
func nextPage(current string) (string, error) {
	u, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(u.Query().Get("page"))
	if err != nil {
		n = 1
	}
	return withPage(current, n+1)
}
