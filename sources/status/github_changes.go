package status

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// githubChanges follows https://docs.github.com/rest/issues/comments (pull requests are
// issues for comments) and https://docs.github.com/rest/pulls/pulls. Pages are linked
// through the Link header.
type githubChanges struct {
	c    *client
	repo string // {Address}/repos/{owner}/{repo}
}

// githubMaxBody is GitHub's documented limit on a comment body, 65,536 characters.
const githubMaxBody = 65536

func (a *githubChanges) bodyLimit() (int, string) {
	return githubMaxBody, "GitHub's comment limit of 65,536 characters"
}

// githubComment is also Gitea's shape.
type githubComment struct {
	ID      int64      `json:"id"`
	Body    string     `json:"body"`
	HTMLURL string     `json:"html_url"`
	User    githubUser `json:"user"`
}

// githubUser is a comment's author and GET /user's answer, on GitHub and Gitea.
type githubUser struct {
	Login string `json:"login"`
}

func (c githubComment) host() hostComment {
	return hostComment{ID: c.ID, Body: c.Body, URL: c.HTMLURL, Author: c.User.Login}
}

func (a *githubChanges) findComment(ctx context.Context, number int, marker, author string) (hostComment, bool, error) {
	return findLinked(ctx, a.c, a.repo+"/issues/"+strconv.Itoa(number)+"/comments?per_page=100", marker, author)
}

func (a *githubChanges) self(ctx context.Context) (string, error) {
	return githubSelf(ctx, a.c, a.repo)
}

// githubSelf asks GET {address}/user (GitHub and Gitea) for the token's login; repo is
// {address}/repos/{owner}/{name}.
func githubSelf(ctx context.Context, c *client, repo string) (string, error) {
	address, _, _ := strings.Cut(repo, "/repos/")
	var u githubUser
	if _, err := c.send(ctx, http.MethodGet, address+"/user", nil, &u); err != nil {
		return "", err
	}
	if u.Login == "" {
		return "", fmt.Errorf("the host named no user for the token")
	}
	return u.Login, nil
}

// findLinked searches GitHub-shaped comment pages, oldest first, following Link.
func findLinked(ctx context.Context, c *client, first, marker, author string) (hostComment, bool, error) {
	var found hostComment
	var ok bool
	err := paginate(ctx, c, first, maxCommentPages, nextLink, func(list []githubComment) (bool, error) {
		page := make([]hostComment, len(list))
		for i, c := range list {
			page[i] = c.host()
		}
		found, ok = pickComment(page, marker, author)
		return ok, nil
	})
	return found, ok, err
}

func (a *githubChanges) createComment(ctx context.Context, number int, body string) (hostComment, error) {
	var c githubComment
	_, err := a.c.send(ctx, http.MethodPost, a.repo+"/issues/"+strconv.Itoa(number)+"/comments", map[string]string{"body": body}, &c)
	return c.host(), err
}

func (a *githubChanges) updateComment(ctx context.Context, _ int, id int64, body string) (hostComment, error) {
	var c githubComment
	_, err := a.c.send(ctx, http.MethodPatch, a.repo+"/issues/comments/"+strconv.FormatInt(id, 10), map[string]string{"body": body}, &c)
	return c.host(), err
}

// githubPull is also Gitea's shape.
type githubPull struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	HTMLURL string `json:"html_url"`
	Head    struct {
		SHA string `json:"sha"`
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (p githubPull) pullRequest() PullRequest {
	return PullRequest{
		Number: p.Number, Title: p.Title, URL: p.HTMLURL,
		HeadSHA: p.Head.SHA, HeadBranch: p.Head.Ref, BaseBranch: p.Base.Ref,
		HeadRef: fmt.Sprintf("refs/pull/%d/head", p.Number),
	}
}

func (a *githubChanges) openPullRequests(ctx context.Context) ([]PullRequest, error) {
	return listPulls(ctx, a.c, a.repo+"/pulls?state=open&per_page=100", maxOpenPullRequests/100, nextLink)
}

func listPulls(ctx context.Context, c *client, first string, maxPages int, next func(http.Header, string) (string, error)) ([]PullRequest, error) {
	var out []PullRequest
	err := paginate(ctx, c, first, maxPages, next, func(list []githubPull) (bool, error) {
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
