package status

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// gitlabChanges follows https://docs.gitlab.com/api/notes/ (merge request notes) and
// https://docs.gitlab.com/api/merge_requests/. Offset pagination names the next page in
// X-Next-Page; keyset pagination only sends a Link header, which is followed otherwise.
type gitlabChanges struct {
	c       *client
	project string // {Address}/projects/{url-escaped path}
	web     string // the project's web page, for note URLs; "" when unknown
}

// gitlabMaxBody is GitLab's limit on a note, 1,000,000 characters.
const gitlabMaxBody = 1_000_000

func (a *gitlabChanges) bodyLimit() (int, string) {
	return gitlabMaxBody, "GitLab's note limit of 1,000,000 characters"
}

// gitlabWeb derives the project's web page from its API URL: notes carry no web URL,
// but https://host/group/name/-/merge_requests/N#note_ID is GitLab's stable form.
func gitlabWeb(project, repository string) string {
	address, ok := strings.CutSuffix(project, "/projects/"+url.PathEscape(repository))
	if !ok {
		return ""
	}
	root, ok := strings.CutSuffix(address, "/api/v4")
	if !ok {
		return ""
	}
	return root + "/" + escapePath(repository)
}

type gitlabNote struct {
	ID     int64      `json:"id"`
	Body   string     `json:"body"`
	System bool       `json:"system"`
	Author gitlabUser `json:"author"`
}

// gitlabUser is a note's author and GET /user's answer.
type gitlabUser struct {
	Username string `json:"username"`
}

func (a *gitlabChanges) self(ctx context.Context) (string, error) {
	address, _, _ := strings.Cut(a.project, "/projects/")
	var u gitlabUser
	if _, err := a.c.send(ctx, http.MethodGet, address+"/user", nil, &u); err != nil {
		return "", err
	}
	if u.Username == "" {
		return "", fmt.Errorf("the host named no user for the token")
	}
	return u.Username, nil
}

func (a *gitlabChanges) noteURL(number int, id int64) string {
	if a.web == "" || id == 0 {
		return ""
	}
	return fmt.Sprintf("%s/-/merge_requests/%d#note_%d", a.web, number, id)
}

func (a *gitlabChanges) host(number int, n gitlabNote) hostComment {
	return hostComment{ID: n.ID, Body: n.Body, URL: a.noteURL(number, n.ID), Author: n.Author.Username}
}

func (a *gitlabChanges) notes(number int) string {
	return a.project + "/merge_requests/" + strconv.Itoa(number) + "/notes"
}

func (a *gitlabChanges) findComment(ctx context.Context, number int, marker, author string) (hostComment, bool, error) {
	// GitLab lists notes newest first unless asked; oldest first keeps the choice stable.
	q := url.Values{"sort": {"asc"}, "order_by": {"created_at"}, "per_page": {"100"}}
	var found hostComment
	var ok bool
	err := paginate(ctx, a.c, a.notes(number)+"?"+q.Encode(), maxCommentPages, gitlabNext, func(list []gitlabNote) (bool, error) {
		var page []hostComment
		for _, n := range list {
			if !n.System { // "added 1 commit" and the like
				page = append(page, a.host(number, n))
			}
		}
		found, ok = pickComment(page, marker, author)
		return ok, nil
	})
	return found, ok, err
}

func (a *gitlabChanges) createComment(ctx context.Context, number int, body string) (hostComment, error) {
	var n gitlabNote
	_, err := a.c.send(ctx, http.MethodPost, a.notes(number), map[string]string{"body": body}, &n)
	return a.host(number, n), err
}

func (a *gitlabChanges) updateComment(ctx context.Context, number int, id int64, body string) (hostComment, error) {
	var n gitlabNote
	_, err := a.c.send(ctx, http.MethodPut, a.notes(number)+"/"+strconv.FormatInt(id, 10), map[string]string{"body": body}, &n)
	return a.host(number, n), err
}

type gitlabMergeRequest struct {
	IID          int    `json:"iid"`
	Title        string `json:"title"`
	WebURL       string `json:"web_url"`
	SHA          string `json:"sha"`
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
}

func (a *gitlabChanges) openPullRequests(ctx context.Context) ([]PullRequest, error) {
	q := url.Values{"state": {"opened"}, "per_page": {"100"}}
	var out []PullRequest
	err := paginate(ctx, a.c, a.project+"/merge_requests?"+q.Encode(), maxOpenPullRequests/100, gitlabNext, func(list []gitlabMergeRequest) (bool, error) {
		for _, mr := range list {
			out = append(out, PullRequest{
				Number: mr.IID, Title: mr.Title, URL: mr.WebURL,
				HeadSHA: mr.SHA, HeadBranch: mr.SourceBranch, BaseBranch: mr.TargetBranch,
				HeadRef: fmt.Sprintf("refs/merge-requests/%d/head", mr.IID),
			})
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gitlabNext reads X-Next-Page (empty on the last page) and falls back to Link.
func gitlabNext(h http.Header, current string) (string, error) {
	if _, present := h["X-Next-Page"]; !present {
		return nextLink(h, current)
	}
	next := h.Get("X-Next-Page")
	if next == "" {
		return "", nil
	}
	n, err := strconv.Atoi(next)
	if err != nil || n < 1 {
		return "", fmt.Errorf("X-Next-Page %q: not a page number", next)
	}
	return withPage(current, n)
}
