package status

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// changesCases are the providers with pull-request comments, served under the paths the
// real hosts use.
var changesCases = []hostCase{
	{"github", GitHub, "", "org/repo", ""},
	{"gitlab", GitLab, "/api/v4", "group/sub/repo", ""},
	{"gitea", Gitea, "/api/v1", "owner/repo", ""},
}

type fakeComment struct {
	ID     int64
	Body   string
	System bool   // GitLab system note
	Author string // the token's user when empty
}

func (c fakeComment) author() string {
	if c.Author == "" {
		return fakeBot
	}
	return c.Author
}

type fakePull struct {
	Number     int
	Title, SHA string
	Head, Base string
}

// changesFake implements the documented comment and pull-request endpoints of one
// provider. It fails the test on any request that strays from the documented shape.
type changesFake struct {
	t  *testing.T
	hc hostCase
	// failOn is a method answered with 500 and a body echoing the credentials.
	failOn string
	// gitlabLinkOnly makes GitLab paginate like keyset pagination: Link header only.
	gitlabLinkOnly bool
	// nextHost, when set, replaces the host in next-page links (a hostile or broken host).
	nextHost string
	url      string

	mu       sync.Mutex
	comments map[int][]fakeComment // by pull request, oldest first
	pulls    []fakePull
	nextID   int64
	requests map[string]int // by method
	gets     []string       // request URIs of GETs, in order
}

func newChangesFake(t *testing.T, hc hostCase) (*changesFake, ChangeRequests) {
	t.Helper()
	f := &changesFake{t: t, hc: hc, comments: map[int][]fakeComment{}, requests: map[string]int{}, nextID: 1000}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	cr, err := NewChangeRequests(Options{
		Provider:   hc.provider,
		Address:    srv.URL + hc.prefix,
		Repository: hc.repository,
		Token:      testToken,
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatalf("NewChangeRequests: %v", err)
	}
	return f, cr
}

// fakeBot is the token's user on the fakes.
const fakeBot = "trustsync-bot"

func (f *changesFake) addComment(number int, body string) int64 {
	return f.addCommentBy(number, "", body)
}

// addCommentBy adds a comment written by author (the token's user when empty).
func (f *changesFake) addCommentBy(number int, author, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.comments[number] = append(f.comments[number], fakeComment{ID: f.nextID, Body: body, Author: author})
	return f.nextID
}

func (f *changesFake) addSystemNote(number int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.comments[number] = append(f.comments[number], fakeComment{ID: f.nextID, Body: body, System: true})
}

func (f *changesFake) list(number int) []fakeComment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.comments[number])
}

func (f *changesFake) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[method]
}

func (f *changesFake) writes() int {
	return f.count(http.MethodPost) + f.count(http.MethodPatch) + f.count(http.MethodPut)
}

func (f *changesFake) reject(w http.ResponseWriter, code int, format string, args ...any) {
	f.t.Errorf("fake %s: "+format, append([]any{f.hc.name}, args...)...)
	http.Error(w, "rejected by fake", code)
}

func (f *changesFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.Method]++
	if r.Method == http.MethodGet {
		f.gets = append(f.gets, r.URL.RequestURI())
	}
	headers := &fakeHost{hc: f.hc} // the status fake's credential checks
	if err := headers.checkHeaders(r); err != nil {
		f.reject(w, http.StatusUnauthorized, "%s %s: %v", r.Method, r.URL, err)
		return
	}
	if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && r.Header.Get("Content-Type") != "application/json" {
		f.reject(w, http.StatusUnsupportedMediaType, "%s without a JSON content type", r.Method)
		return
	}
	// The token's user (GitHub and Gitea login, GitLab username) is answered before any
	// injected failure, which is about the comment and pull request endpoints.
	if p, ok := strings.CutPrefix(r.URL.EscapedPath(), f.hc.prefix); ok && p == "/user" && r.Method == http.MethodGet {
		key := "login"
		if f.hc.provider == GitLab {
			key = "username"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 1, key: fakeBot})
		return
	}
	if r.Method == f.failOn {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"message":"token %s is not allowed","authorization":%q,"private":%q,"padding":%q}`,
			testToken, r.Header.Get("Authorization"), r.Header.Get("PRIVATE-TOKEN"), strings.Repeat("x", 1000))
		return
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), f.hc.prefix)
	if !ok {
		f.reject(w, http.StatusNotFound, "path %s outside %s", r.URL.EscapedPath(), f.hc.prefix)
		return
	}
	switch f.hc.provider {
	case GitHub, Gitea:
		f.githubLike(w, r, path)
	case GitLab:
		f.gitlab(w, r, path)
	}
}

var (
	ghComments      = regexp.MustCompile(`^/repos/(?:org|owner)/repo/issues/([0-9]+)/comments$`)
	ghComment       = regexp.MustCompile(`^/repos/(?:org|owner)/repo/issues/comments/([0-9]+)$`)
	ghPulls         = regexp.MustCompile(`^/repos/(?:org|owner)/repo/pulls$`)
	glNotes         = regexp.MustCompile(`^/projects/group%2Fsub%2Frepo/merge_requests/([0-9]+)/notes$`)
	glNote          = regexp.MustCompile(`^/projects/group%2Fsub%2Frepo/merge_requests/([0-9]+)/notes/([0-9]+)$`)
	glMergeRequests = regexp.MustCompile(`^/projects/group%2Fsub%2Frepo/merge_requests$`)
)

// readBody accepts exactly {"body": "<non-empty>"}, the documented create and edit body.
func readBody(r *http.Request) (string, error) {
	b, err := decodeStrict(r, []string{"body"}, []string{"body"})
	if err != nil {
		return "", err
	}
	return b["body"], nil
}

// pageOf cuts items to one page; page and size come from the query, defaults as the host.
func pageOf[T any](items []T, q url.Values, pageKey, sizeKey string, defSize, maxSize int) (page []T, n, size, total int, err error) {
	n, size = 1, defSize
	if v := q.Get(pageKey); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return nil, 0, 0, 0, fmt.Errorf("%s=%q", pageKey, v)
		}
	}
	if v := q.Get(sizeKey); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 {
			return nil, 0, 0, 0, fmt.Errorf("%s=%q", sizeKey, v)
		}
	}
	size = min(size, maxSize)
	total = max((len(items)+size-1)/size, 1)
	lo := min((n-1)*size, len(items))
	hi := min(lo+size, len(items))
	return items[lo:hi], n, size, total, nil
}

// link writes GitHub's (and Gitea's, and GitLab's offset) Link header.
func (f *changesFake) link(w http.ResponseWriter, r *http.Request, pageKey string, n, total int) {
	base := f.url
	if f.nextHost != "" {
		base = f.nextHost
	}
	at := func(p int) string {
		q := r.URL.Query()
		q.Set(pageKey, strconv.Itoa(p))
		return fmt.Sprintf("<%s%s?%s>", base, r.URL.EscapedPath(), q.Encode())
	}
	var parts []string
	if n < total {
		parts = append(parts, at(n+1)+`; rel="next"`, at(total)+`; rel="last"`)
	}
	if n > 1 {
		parts = append(parts, at(1)+`; rel="first"`, at(n-1)+`; rel="prev"`)
	}
	if len(parts) > 0 {
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
}

func (f *changesFake) githubComment(number int, c fakeComment) map[string]any {
	web := "https://github.example/org/repo/pull/" + strconv.Itoa(number)
	return map[string]any{
		"id": c.ID, "node_id": "IC_" + strconv.FormatInt(c.ID, 10), "body": c.Body,
		"html_url":  fmt.Sprintf("%s#issuecomment-%d", web, c.ID),
		"url":       fmt.Sprintf("%s/repos/%s/issues/comments/%d", f.url, f.hc.repository, c.ID),
		"user":      map[string]any{"login": c.author(), "id": 1},
		"issue_url": fmt.Sprintf("%s/repos/%s/issues/%d", f.url, f.hc.repository, number),
	}
}

func (f *changesFake) find(id int64) (number, index int, ok bool) {
	for n, list := range f.comments {
		for i, c := range list {
			if c.ID == id {
				return n, i, true
			}
		}
	}
	return 0, 0, false
}

// githubLike: GitHub's issue comments and pulls, which Gitea mirrors; Gitea lists a pull
// request's comments in one answer and pages pulls by page/limit (at most 50).
func (f *changesFake) githubLike(w http.ResponseWriter, r *http.Request, path string) {
	if m := ghComments.FindStringSubmatch(path); m != nil {
		number, _ := strconv.Atoi(m[1])
		switch r.Method {
		case http.MethodGet:
			list := f.comments[number]
			if f.hc.provider == GitHub {
				var err error
				var n, total int
				list, n, _, total, err = pageOf(list, r.URL.Query(), "page", "per_page", 30, 100)
				if err != nil {
					f.reject(w, http.StatusBadRequest, "%v", err)
					return
				}
				f.link(w, r, "page", n, total)
			} else if r.URL.RawQuery != "" {
				f.reject(w, http.StatusBadRequest, "gitea comment list query %q", r.URL.RawQuery)
				return
			}
			out := []map[string]any{}
			for _, c := range list {
				out = append(out, f.githubComment(number, c))
			}
			writeJSON(w, http.StatusOK, out)
		case http.MethodPost:
			body, err := readBody(r)
			if err != nil {
				f.reject(w, http.StatusUnprocessableEntity, "%v", err)
				return
			}
			f.nextID++
			c := fakeComment{ID: f.nextID, Body: body}
			f.comments[number] = append(f.comments[number], c)
			writeJSON(w, http.StatusCreated, f.githubComment(number, c))
		default:
			f.reject(w, http.StatusMethodNotAllowed, "%s %s", r.Method, path)
		}
		return
	}
	if m := ghComment.FindStringSubmatch(path); m != nil && r.Method == http.MethodPatch {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		number, i, ok := f.find(id)
		if !ok {
			f.reject(w, http.StatusNotFound, "no comment %d", id)
			return
		}
		body, err := readBody(r)
		if err != nil {
			f.reject(w, http.StatusUnprocessableEntity, "%v", err)
			return
		}
		f.comments[number][i].Body = body
		writeJSON(w, http.StatusOK, f.githubComment(number, f.comments[number][i]))
		return
	}
	if ghPulls.MatchString(path) && r.Method == http.MethodGet {
		q := r.URL.Query()
		if q.Get("state") != "open" {
			f.reject(w, http.StatusBadRequest, "pulls query %q", r.URL.RawQuery)
			return
		}
		sizeKey, def, maxSize := "per_page", 30, 100
		if f.hc.provider == Gitea {
			sizeKey, def, maxSize = "limit", 30, 50
		}
		list, n, _, total, err := pageOf(f.pulls, q, "page", sizeKey, def, maxSize)
		if err != nil {
			f.reject(w, http.StatusBadRequest, "%v", err)
			return
		}
		f.link(w, r, "page", n, total)
		if f.hc.provider == Gitea {
			w.Header().Set("X-Total-Count", strconv.Itoa(len(f.pulls)))
		}
		out := []map[string]any{}
		for _, p := range list {
			out = append(out, map[string]any{
				"id": 5000 + p.Number, "number": p.Number, "state": "open", "title": p.Title,
				"html_url": fmt.Sprintf("https://forge.example/%s/pull/%d", f.hc.repository, p.Number),
				"head":     map[string]any{"ref": p.Head, "sha": p.SHA, "label": "org:" + p.Head},
				"base":     map[string]any{"ref": p.Base, "sha": commitB, "label": "org:" + p.Base},
			})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
}

func (f *changesFake) gitlabNote(number int, c fakeComment) map[string]any {
	return map[string]any{
		"id": c.ID, "type": nil, "body": c.Body, "system": c.System,
		"author":        map[string]any{"id": 1, "username": c.author()},
		"noteable_type": "MergeRequest", "noteable_iid": number, "noteable_id": 9000 + number,
	}
}

// gitlabPage writes GitLab's offset-pagination headers (or, keyset-like, Link only).
func (f *changesFake) gitlabPage(w http.ResponseWriter, r *http.Request, n, size, total, count int) {
	f.link(w, r, "page", n, total)
	if f.gitlabLinkOnly {
		return
	}
	next := ""
	if n < total {
		next = strconv.Itoa(n + 1)
	}
	h := w.Header()
	h["X-Next-Page"] = []string{next} // present and empty on the last page, as GitLab sends it
	h.Set("X-Page", strconv.Itoa(n))
	h.Set("X-Per-Page", strconv.Itoa(size))
	h.Set("X-Total", strconv.Itoa(count))
	h.Set("X-Total-Pages", strconv.Itoa(total))
}

// gitlab: merge request notes and merge requests.
func (f *changesFake) gitlab(w http.ResponseWriter, r *http.Request, path string) {
	if m := glNotes.FindStringSubmatch(path); m != nil {
		number, _ := strconv.Atoi(m[1])
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			list := slices.Clone(f.comments[number])
			switch q.Get("sort") {
			case "asc":
			case "", "desc": // GitLab's default: newest first
				slices.Reverse(list)
			default:
				f.reject(w, http.StatusBadRequest, "sort %q", q.Get("sort"))
				return
			}
			if ob := q.Get("order_by"); ob != "" && ob != "created_at" && ob != "updated_at" {
				f.reject(w, http.StatusBadRequest, "order_by %q", ob)
				return
			}
			page, n, size, total, err := pageOf(list, q, "page", "per_page", 20, 100)
			if err != nil {
				f.reject(w, http.StatusBadRequest, "%v", err)
				return
			}
			f.gitlabPage(w, r, n, size, total, len(list))
			out := []map[string]any{}
			for _, c := range page {
				out = append(out, f.gitlabNote(number, c))
			}
			writeJSON(w, http.StatusOK, out)
		case http.MethodPost:
			body, err := readBody(r)
			if err != nil {
				f.reject(w, http.StatusBadRequest, "%v", err)
				return
			}
			f.nextID++
			c := fakeComment{ID: f.nextID, Body: body}
			f.comments[number] = append(f.comments[number], c)
			writeJSON(w, http.StatusCreated, f.gitlabNote(number, c))
		default:
			f.reject(w, http.StatusMethodNotAllowed, "%s %s", r.Method, path)
		}
		return
	}
	if m := glNote.FindStringSubmatch(path); m != nil && r.Method == http.MethodPut {
		number, _ := strconv.Atoi(m[1])
		id, _ := strconv.ParseInt(m[2], 10, 64)
		n, i, ok := f.find(id)
		if !ok || n != number {
			f.reject(w, http.StatusNotFound, "no note %d on !%d", id, number)
			return
		}
		body, err := readBody(r)
		if err != nil {
			f.reject(w, http.StatusBadRequest, "%v", err)
			return
		}
		f.comments[number][i].Body = body
		writeJSON(w, http.StatusOK, f.gitlabNote(number, f.comments[number][i]))
		return
	}
	if glMergeRequests.MatchString(path) && r.Method == http.MethodGet {
		q := r.URL.Query()
		if q.Get("state") != "opened" {
			f.reject(w, http.StatusBadRequest, "merge_requests query %q", r.URL.RawQuery)
			return
		}
		page, n, size, total, err := pageOf(f.pulls, q, "page", "per_page", 20, 100)
		if err != nil {
			f.reject(w, http.StatusBadRequest, "%v", err)
			return
		}
		f.gitlabPage(w, r, n, size, total, len(f.pulls))
		out := []map[string]any{}
		for _, p := range page {
			out = append(out, map[string]any{
				"id": 9000 + p.Number, "iid": p.Number, "project_id": 3, "state": "opened", "title": p.Title,
				"web_url":       fmt.Sprintf("https://gitlab.example/group/sub/repo/-/merge_requests/%d", p.Number),
				"sha":           p.SHA,
				"source_branch": p.Head, "target_branch": p.Base,
			})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
}
