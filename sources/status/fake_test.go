package status

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	testToken = "tok-S3CRET-5f2b9c"
	testUser  = "deploy-bot"
	commitA   = "0123456789abcdef0123456789abcdef01234567"
	commitB   = "89abcdef0123456789abcdef0123456789abcdef"
)

// hostCase is one provider configuration the behaviour tests run against.
type hostCase struct {
	name       string
	provider   Provider
	prefix     string // path the fake API is served under, as on the real host
	repository string
	username   string // Bitbucket basic auth when set
}

var hostCases = []hostCase{
	{"github", GitHub, "", "org/repo", ""},
	{"gitea", Gitea, "/api/v1", "owner/repo", ""},
	{"gitlab", GitLab, "/api/v4", "group/sub/repo", ""},
	{"bitbucket bearer", Bitbucket, "/2.0", "ws/repo", ""},
	{"bitbucket basic", Bitbucket, "/2.0", "ws/repo", testUser},
	{"bitbucketserver bearer", BitbucketServer, "", "PROJ/repo", ""},
	{"bitbucketserver basic", BitbucketServer, "", "PROJ/repo", testUser},
}

// stored is a status as the fake host keeps it, in the host's vocabulary.
type stored struct {
	ID          int64
	Context     string // context, GitLab name or Bitbucket name
	Key         string // Bitbucket only
	State       string
	Description string
	URL         string // target_url or Bitbucket url
}

// fakeHost implements one provider's status endpoints as documented, rejecting (and
// failing the test on) any request that strays from the documented shape.
type fakeHost struct {
	t  *testing.T
	hc hostCase
	// failOn is a method the fake answers with 500 and a body echoing the credentials.
	failOn string

	mu       sync.Mutex
	byCommit map[string][]stored // oldest first
	nextID   int64
	requests map[string]int // by method
}

// newFake starts a fake for hc and returns it with a Poster pointed at it.
func newFake(t *testing.T, hc hostCase) (*fakeHost, Poster) {
	t.Helper()
	f := &fakeHost{t: t, hc: hc, byCommit: map[string][]stored{}, requests: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := New(Options{
		Provider:   hc.provider,
		Address:    srv.URL + hc.prefix,
		Repository: hc.repository,
		Token:      testToken,
		Username:   hc.username,
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, p
}

func (f *fakeHost) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[method]
}

// newest is the current status for context on commit, as the host would show it.
func (f *fakeHost) newest(commit, context string) (stored, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.byCommit[commit]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Context == context {
			return list[i], true
		}
	}
	return stored{}, false
}

func (f *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.Method]++
	if err := f.checkHeaders(r); err != nil {
		f.reject(w, http.StatusUnauthorized, "%s %s: %v", r.Method, r.URL, err)
		return
	}
	if r.Method == f.failOn {
		// A careless host or proxy echoing every credential it saw, then some noise.
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"message":"token %s (%s, %s) is not allowed","authorization":%q,"private":%q,"query":"?access_token=%s","padding":%q}`,
			testToken, base64.StdEncoding.EncodeToString([]byte(testToken)), hex.EncodeToString([]byte(testToken)),
			r.Header.Get("Authorization"), r.Header.Get("PRIVATE-TOKEN"), testToken, strings.Repeat("x", 1000))
		return
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), f.hc.prefix)
	if !ok {
		f.reject(w, http.StatusNotFound, "path %s outside %s", r.URL.EscapedPath(), f.hc.prefix)
		return
	}
	switch f.hc.provider {
	case GitHub:
		f.github(w, r, path)
	case Gitea:
		f.gitea(w, r, path)
	case GitLab:
		f.gitlab(w, r, path)
	case Bitbucket, BitbucketServer:
		f.bitbucket(w, r, path)
	}
}

func (f *fakeHost) reject(w http.ResponseWriter, code int, format string, args ...any) {
	f.t.Errorf("fake %s: "+format, append([]any{f.hc.name}, args...)...)
	http.Error(w, "rejected by fake", code)
}

func (f *fakeHost) checkHeaders(r *http.Request) error {
	want := map[string]string{}
	switch f.hc.provider {
	case GitHub:
		want["Authorization"] = "Bearer " + testToken
		want["Accept"] = "application/vnd.github+json"
		want["X-Github-Api-Version"] = "2022-11-28"
	case Gitea:
		want["Authorization"] = "token " + testToken
	case GitLab:
		want["Private-Token"] = testToken
		want["Authorization"] = ""
	case Bitbucket, BitbucketServer:
		want["Authorization"] = "Bearer " + testToken
		if f.hc.username != "" {
			want["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(f.hc.username+":"+testToken))
		}
	}
	if r.Method == http.MethodPost {
		want["Content-Type"] = "application/json"
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			return fmt.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	return nil
}

// decodeStrict reads a JSON object of strings with only allowed keys and all required
// ones non-empty.
func decodeStrict(r *http.Request, allowed, required []string) (map[string]string, error) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("body: %v", err)
	}
	out := map[string]string{}
	for k, v := range m {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown field %q", k)
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("field %q: %T, want a string", k, v)
		}
		out[k] = s
	}
	for _, k := range required {
		if out[k] == "" {
			return nil, fmt.Errorf("field %q missing", k)
		}
	}
	return out, nil
}

func (f *fakeHost) add(commit string, s stored) {
	f.nextID++
	s.ID = f.nextID
	f.byCommit[commit] = append(f.byCommit[commit], s)
}

// newestFirst is the commit's statuses in reverse chronological order.
func (f *fakeHost) newestFirst(commit string) []stored {
	list := slices.Clone(f.byCommit[commit])
	slices.Reverse(list)
	return list
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	githubPost  = regexp.MustCompile(`^/repos/org/repo/statuses/([0-9a-f]{40})$`)
	githubList  = regexp.MustCompile(`^/repos/org/repo/commits/([0-9a-f]{40})/statuses$`)
	giteaPath   = regexp.MustCompile(`^/repos/owner/repo/statuses/([0-9a-f]{40})$`)
	gitlabPost  = regexp.MustCompile(`^/projects/group%2Fsub%2Frepo/statuses/([0-9a-f]{40})$`)
	gitlabList  = regexp.MustCompile(`^/projects/group%2Fsub%2Frepo/repository/commits/([0-9a-f]{40})/statuses$`)
	bbCloudPost = regexp.MustCompile(`^/repositories/ws/repo/commit/([0-9a-f]{40})/statuses/build$`)
	bbCloudList = regexp.MustCompile(`^/repositories/ws/repo/commit/([0-9a-f]{40})/statuses$`)
	bbServer    = regexp.MustCompile(`^/rest/build-status/1\.0/commits/([0-9a-f]{40})$`)
)

// github: POST /repos/{owner}/{repo}/statuses/{sha}; GET /repos/{owner}/{repo}/commits/{sha}/statuses.
func (f *fakeHost) github(w http.ResponseWriter, r *http.Request, path string) {
	if m := githubPost.FindStringSubmatch(path); m != nil && r.Method == http.MethodPost {
		b, err := decodeStrict(r, []string{"state", "target_url", "description", "context"}, []string{"state", "context"})
		if err == nil && !slices.Contains([]string{"pending", "success", "failure", "error"}, b["state"]) {
			err = fmt.Errorf("state %q", b["state"])
		}
		if err != nil {
			f.reject(w, http.StatusUnprocessableEntity, "%v", err)
			return
		}
		f.add(m[1], stored{Context: b["context"], State: b["state"], Description: b["description"], URL: b["target_url"]})
		writeJSON(w, http.StatusCreated, map[string]any{"id": f.nextID, "state": b["state"], "context": b["context"]})
		return
	}
	if m := githubList.FindStringSubmatch(path); m != nil && r.Method == http.MethodGet {
		if q := r.URL.RawQuery; q != "per_page=100" {
			f.reject(w, http.StatusBadRequest, "list query %q", q)
			return
		}
		list := []map[string]any{}
		for _, s := range f.newestFirst(m[1]) {
			list = append(list, map[string]any{"id": s.ID, "state": s.State, "description": s.Description, "target_url": s.URL, "context": s.Context})
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
}

// gitea: POST and GET /repos/{owner}/{repo}/statuses/{sha}; answers call the state "status".
func (f *fakeHost) gitea(w http.ResponseWriter, r *http.Request, path string) {
	m := giteaPath.FindStringSubmatch(path)
	switch {
	case m != nil && r.Method == http.MethodPost:
		b, err := decodeStrict(r, []string{"state", "target_url", "description", "context"}, []string{"state", "context"})
		if err == nil && !slices.Contains([]string{"pending", "success", "error", "failure", "warning"}, b["state"]) {
			err = fmt.Errorf("state %q", b["state"])
		}
		if err != nil {
			f.reject(w, http.StatusUnprocessableEntity, "%v", err)
			return
		}
		f.add(m[1], stored{Context: b["context"], State: b["state"], Description: b["description"], URL: b["target_url"]})
		writeJSON(w, http.StatusCreated, map[string]any{"id": f.nextID, "status": b["state"], "context": b["context"]})
	case m != nil && r.Method == http.MethodGet:
		if q := r.URL.Query(); q.Get("sort") != "leastindex" {
			f.reject(w, http.StatusBadRequest, "list query %q", r.URL.RawQuery)
			return
		}
		list := []map[string]any{}
		for _, s := range f.newestFirst(m[1]) {
			list = append(list, map[string]any{"id": s.ID, "status": s.State, "description": s.Description, "target_url": s.URL, "context": s.Context})
		}
		writeJSON(w, http.StatusOK, list)
	default:
		f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
	}
}

// gitlab: POST /projects/{id}/statuses/{sha}; GET /projects/{id}/repository/commits/{sha}/statuses.
func (f *fakeHost) gitlab(w http.ResponseWriter, r *http.Request, path string) {
	if m := gitlabPost.FindStringSubmatch(path); m != nil && r.Method == http.MethodPost {
		b, err := decodeStrict(r, []string{"state", "name", "target_url", "description"}, []string{"state", "name"})
		if err == nil && !slices.Contains([]string{"pending", "running", "success", "failed", "canceled"}, b["state"]) {
			err = fmt.Errorf("state %q", b["state"])
		}
		if err != nil {
			f.reject(w, http.StatusBadRequest, "%v", err)
			return
		}
		f.add(m[1], stored{Context: b["name"], State: b["state"], Description: b["description"], URL: b["target_url"]})
		writeJSON(w, http.StatusCreated, map[string]any{"id": f.nextID, "status": b["state"], "name": b["name"]})
		return
	}
	if m := gitlabList.FindStringSubmatch(path); m != nil && r.Method == http.MethodGet {
		q := r.URL.Query()
		if q.Get("all") != "true" || q.Get("name") == "" {
			f.reject(w, http.StatusBadRequest, "list query %q", r.URL.RawQuery)
			return
		}
		// Ascending ids, as GitLab before 17.8 answers whatever sort is asked for.
		list := []map[string]any{}
		for _, s := range f.byCommit[m[1]] {
			if s.Context == q.Get("name") {
				list = append(list, map[string]any{"id": s.ID, "status": s.State, "name": s.Context, "description": s.Description, "target_url": s.URL})
			}
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
}

// bitbucket: Cloud POST .../commit/{sha}/statuses/build and GET .../commit/{sha}/statuses;
// Server POST and GET /rest/build-status/1.0/commits/{sha}. A post with a known key
// replaces that status.
func (f *fakeHost) bitbucket(w http.ResponseWriter, r *http.Request, path string) {
	postRE, listRE := bbCloudPost, bbCloudList
	if f.hc.provider == BitbucketServer {
		postRE, listRE = bbServer, bbServer
	}
	if m := postRE.FindStringSubmatch(path); m != nil && r.Method == http.MethodPost {
		b, err := decodeStrict(r, []string{"key", "name", "state", "url", "description"}, []string{"key", "state", "url"})
		switch {
		case err != nil:
		case len(b["key"]) > 40:
			err = fmt.Errorf("key %q longer than 40", b["key"])
		case !slices.Contains([]string{"INPROGRESS", "SUCCESSFUL", "FAILED"}, b["state"]):
			err = fmt.Errorf("state %q", b["state"])
		}
		if err != nil {
			f.reject(w, http.StatusBadRequest, "%v", err)
			return
		}
		f.byCommit[m[1]] = slices.DeleteFunc(f.byCommit[m[1]], func(s stored) bool { return s.Key == b["key"] })
		f.add(m[1], stored{Context: b["name"], Key: b["key"], State: b["state"], Description: b["description"], URL: b["url"]})
		if f.hc.provider == BitbucketServer {
			w.WriteHeader(http.StatusNoContent)
		} else {
			writeJSON(w, http.StatusCreated, map[string]any{"key": b["key"], "state": b["state"]})
		}
		return
	}
	if m := listRE.FindStringSubmatch(path); m != nil && r.Method == http.MethodGet {
		values := []map[string]any{}
		for _, s := range f.newestFirst(m[1]) {
			values = append(values, map[string]any{"key": s.Key, "name": s.Context, "state": s.State, "url": s.URL, "description": s.Description})
		}
		page := map[string]any{"values": values, "size": len(values), "page": 1, "pagelen": 100}
		if f.hc.provider == BitbucketServer {
			page = map[string]any{"values": values, "size": len(values), "isLastPage": true, "start": 0, "limit": 100}
		}
		writeJSON(w, http.StatusOK, page)
		return
	}
	f.reject(w, http.StatusNotFound, "%s %s", r.Method, path)
}
