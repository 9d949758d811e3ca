package status

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ChangeRequests reads a repository's open pull requests (GitLab: merge requests) and keeps
// one comment per pull request up to date.
type ChangeRequests interface {
	// UpsertComment makes the comment on pull request number whose body contains marker
	// read marker + "\n" + body: it creates the comment when there is none, edits it in
	// place when its body differs and sends no write when it is already equal.
	UpsertComment(ctx context.Context, number int, marker, body string) (CommentResult, error)
	// OpenPullRequests lists the open pull requests, at most maxOpenPullRequests; more is
	// an error rather than a silently partial list.
	OpenPullRequests(ctx context.Context) ([]PullRequest, error)
}

// PullRequest is an open pull request (GitLab: merge request) as the host lists it.
type PullRequest struct {
	Number     int // GitHub and Gitea number, GitLab iid: what UpsertComment takes
	Title      string
	HeadSHA    string // full hash of the head commit
	HeadBranch string // source branch; for a fork, the branch in the fork
	BaseBranch string // target branch
	// HeadRef is the ref in this repository that holds the head commit, also for pull
	// requests from forks: refs/pull/N/head (GitHub, Gitea), refs/merge-requests/N/head
	// (GitLab).
	HeadRef string
	URL     string // web page
}

// CommentAction is what UpsertComment did.
type CommentAction string

const (
	CommentCreated   CommentAction = "created"
	CommentUpdated   CommentAction = "updated"
	CommentUnchanged CommentAction = "unchanged" // no write was sent
)

// CommentResult is the outcome of UpsertComment.
type CommentResult struct {
	Action CommentAction
	ID     int64  // the host's comment (GitLab: note) id
	URL    string // web address of the comment; empty when it cannot be known
	// Truncated reports that the body was cut to the host's comment size limit.
	Truncated bool
}

// MarkerPrefix starts every marker Marker builds.
const MarkerPrefix = "trustsync-preview:"

// Marker is the hidden marker for id, e.g. Marker("team-a/agents") is
// "<!-- trustsync-preview:team-a/agents -->". It renders as nothing on every host.
func Marker(id string) string { return "<!-- " + MarkerPrefix + id + " -->" }

const (
	maxMarker = 200
	// maxOpenPullRequests bounds OpenPullRequests; maxCommentPages bounds the search for
	// the marked comment. Both stop a runaway or hostile pagination.
	maxOpenPullRequests = 1000
	maxCommentPages     = 50
)

// checkMarker accepts a one-line HTML comment, so that it stays hidden when rendered and
// cannot end early: HTML comments must not contain "--".
func checkMarker(marker string) error {
	inner, ok := strings.CutPrefix(marker, "<!--")
	if ok {
		inner, ok = strings.CutSuffix(inner, "-->")
	}
	switch {
	case !ok:
		return fmt.Errorf("marker %q: want an HTML comment <!-- ... -->", marker)
	case len(marker) > maxMarker:
		return fmt.Errorf("marker: longer than %d bytes", maxMarker)
	case strings.TrimSpace(inner) == "":
		return fmt.Errorf("marker %q: empty comment", marker)
	case strings.Contains(inner, "--") || strings.HasPrefix(inner, ">") || strings.HasPrefix(inner, "->"):
		return fmt.Errorf("marker %q: must not contain \"--\" or start with \">\"", marker)
	case strings.IndexFunc(inner, unicode.IsControl) >= 0 || !utf8.ValidString(inner):
		return fmt.Errorf("marker %q: contains control characters or invalid UTF-8", marker)
	}
	return nil
}

func checkNumber(number int) error {
	if number <= 0 {
		return fmt.Errorf("pull request number %d: want a positive number", number)
	}
	return nil
}

// composeBody puts the marker first, where hosts keep it out of notification previews'
// way, and cuts the result to limit bytes. A body that already starts with the marker is
// taken as it is.
func composeBody(marker, body string, limit int, host string) (string, bool) {
	full := body
	if !strings.HasPrefix(body, marker) {
		full = marker + "\n" + body
	}
	return truncateBody(full, limit, host)
}

// truncateBody cuts s to at most limit bytes (bytes bound every host's count of
// characters), at a line end where one is near, closes a code fence the cut left open
// and appends a note saying so.
func truncateBody(s string, limit int, host string) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	note := fmt.Sprintf("\n\n> **Cut**: the full comment is %d bytes, over %s. Run `trustsync preview` locally for all of it.\n", len(s), host)
	const fence = "\n```\n"
	keep := max(limit-len(note)-len(fence), 0)
	cut := s[:keep]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	// Prefer a whole line unless that throws away more than a small tail.
	if i := strings.LastIndexByte(cut, '\n'); i >= 0 && len(cut)-i < 4096 {
		cut = cut[:i]
	}
	if openFence(cut) {
		cut += fence[:len(fence)-1]
	}
	return cut + note, true
}

// openFence reports whether s ends inside a ``` code block.
func openFence(s string) bool {
	open := false
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			open = !open
		}
	}
	return open
}

// sameBody compares bodies as hosts store them: some turn \r\n into \n or drop trailing
// whitespace, which must not count as a change or every run would write again.
func sameBody(stored, want string) bool {
	norm := func(s string) string {
		return strings.TrimRightFunc(strings.ReplaceAll(s, "\r\n", "\n"), unicode.IsSpace)
	}
	return norm(stored) == norm(want)
}

// hostComment is one comment as a host lists it.
type hostComment struct {
	ID   int64
	Body string
	URL  string
	// Author is the login (GitLab: username) of who wrote it.
	Author string
}

// changesAPI is one provider's pull-request and comment endpoints.
type changesAPI interface {
	// bodyLimit is the host's comment size limit in bytes, and the host's name for the note.
	bodyLimit() (int, string)
	// findComment returns the first comment (oldest first) by author on number whose
	// body holds marker, preferring one that starts with it; found is false when there is
	// none.
	findComment(ctx context.Context, number int, marker, author string) (c hostComment, found bool, err error)
	// self is the login of the token's user, who writes the comments.
	self(ctx context.Context) (string, error)
	createComment(ctx context.Context, number int, body string) (hostComment, error)
	updateComment(ctx context.Context, number int, id int64, body string) (hostComment, error)
	openPullRequests(ctx context.Context) ([]PullRequest, error)
}

// pickComment implements findComment's preference over one page of comments. Only the
// token's own comments count: the marker is no secret, and anyone who may comment could
// otherwise plant it to have the report written into (or refused on) their comment.
func pickComment(list []hostComment, marker, author string) (hostComment, bool) {
	var contains *hostComment
	for i, c := range list {
		if !strings.EqualFold(c.Author, author) {
			continue
		}
		if strings.HasPrefix(strings.TrimLeftFunc(c.Body, unicode.IsSpace), marker) {
			return c, true
		}
		if contains == nil && strings.Contains(c.Body, marker) {
			contains = &list[i]
		}
	}
	if contains != nil {
		return *contains, true
	}
	return hostComment{}, false
}

type changeRequests struct {
	provider   Provider
	repository string
	api        changesAPI
	redactor   redactor
}

// NewChangeRequests returns the ChangeRequests for o.Provider: github, gitlab or gitea.
// It takes the same Options as New, checked the same way.
func NewChangeRequests(o Options) (ChangeRequests, error) {
	hasChanges := func(h host) bool { return h.changes != nil }
	switch h, ok := hostOf(o.Provider); {
	case !ok:
		return nil, optionErr("Provider", "%q: want %s", o.Provider, listProviders(hasChanges))
	case !hasChanges(h):
		return nil, optionErr("Provider", "%q: pull-request comments are not supported; use %s", o.Provider, listProviders(hasChanges))
	}
	// The pull-request endpoints sit beside the status ones, on the same base URL and
	// with the same credentials and redactor.
	h, c, o, err := connect(o)
	if err != nil {
		return nil, err
	}
	return &changeRequests{provider: o.Provider, repository: o.Repository, api: h.changes(c, o), redactor: c.redactor}, nil
}

func (cr *changeRequests) UpsertComment(ctx context.Context, number int, marker, body string) (CommentResult, error) {
	if err := errors.Join(checkNumber(number), checkMarker(marker)); err != nil {
		return CommentResult{}, cr.fail(number, "check", err)
	}
	limit, host := cr.api.bodyLimit()
	want, truncated := composeBody(marker, body, limit, host)
	author, err := cr.api.self(ctx)
	if err != nil {
		return CommentResult{}, cr.fail(number, "identify the token's user", err)
	}
	found, ok, err := cr.api.findComment(ctx, number, marker, author)
	if err != nil {
		return CommentResult{}, cr.fail(number, "list comments", err)
	}
	if ok && sameBody(found.Body, want) {
		return CommentResult{Action: CommentUnchanged, ID: found.ID, URL: found.URL, Truncated: truncated}, nil
	}
	if ok {
		c, err := cr.api.updateComment(ctx, number, found.ID, want)
		if err != nil {
			return CommentResult{}, cr.fail(number, "update comment", err)
		}
		if c.URL == "" {
			c.URL = found.URL
		}
		return CommentResult{Action: CommentUpdated, ID: found.ID, URL: c.URL, Truncated: truncated}, nil
	}
	c, err := cr.api.createComment(ctx, number, want)
	if err != nil {
		return CommentResult{}, cr.fail(number, "create comment", err)
	}
	return CommentResult{Action: CommentCreated, ID: c.ID, URL: c.URL, Truncated: truncated}, nil
}

func (cr *changeRequests) OpenPullRequests(ctx context.Context) ([]PullRequest, error) {
	prs, err := cr.api.openPullRequests(ctx)
	if err != nil {
		return nil, cr.fail(0, "list pull requests", err)
	}
	for _, pr := range prs {
		// The engine puts the head in fetches and status paths: fail closed on anything
		// that is not a full hash.
		if err := checkCommit(pr.HeadSHA); err != nil {
			return nil, cr.fail(pr.Number, "list pull requests", fmt.Errorf("head: %w", err))
		}
	}
	return prs, nil
}

func (cr *changeRequests) fail(number int, op string, err error) *ChangeRequestError {
	e := &ChangeRequestError{
		Provider:   cr.provider,
		Repository: cr.repository,
		Number:     number,
		Op:         op,
		Err:        &redactedError{err: err, r: cr.redactor},
	}
	var re *responseError
	if errors.As(err, &re) {
		e.StatusCode, e.Body = re.StatusCode, re.Body
	}
	return e
}

// ChangeRequestError is a failed UpsertComment or OpenPullRequests: bad input, a transport
// failure or a non-2xx answer. Its text never contains the token.
type ChangeRequestError struct {
	Provider   Provider
	Repository string
	Number     int    // the pull request; 0 for a listing
	Op         string // "check", "list comments", "create comment", "update comment" or "list pull requests"
	StatusCode int    // 0 when no HTTP answer arrived
	Body       string // at most maxErrorBody bytes of the answer, secrets redacted
	Err        error  // the cause, secrets redacted from its text
}

func (e *ChangeRequestError) Error() string {
	what := fmt.Sprintf("%s %s", e.Provider, e.Repository)
	if e.Number != 0 {
		what += fmt.Sprintf("#%d", e.Number)
	}
	return hostError(what+": "+e.Op, e.StatusCode, e.Body, e.Err)
}

func (e *ChangeRequestError) Unwrap() error { return e.Err }
