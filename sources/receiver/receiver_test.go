package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const secret = "webhook-s3cret"

type fakeLookup map[string]Source

func (f fakeLookup) Receiver(_ context.Context, namespace, name string) (Source, bool, error) {
	if name == "broken" {
		return Source{}, false, errors.New("cache not synced: " + secret)
	}
	src, ok := f[namespace+"/"+name]
	return src, ok, nil
}

type triggers struct {
	mu    sync.Mutex
	calls []string
}

func (tr *triggers) trigger(_ context.Context, namespace, name string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls = append(tr.calls, namespace+"/"+name)
}

func (tr *triggers) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.calls)
}

func newHandler() (*Handler, *triggers) { return newHandlerWith(Options{}) }

func newHandlerWith(o Options) (*Handler, *triggers) {
	tr := &triggers{}
	return NewHandler(fakeLookup{
		"team/github":   {Type: GitHub, Secret: []byte(secret)},
		"team/gitlab":   {Type: GitLab, Secret: []byte(secret)},
		"team/gitea":    {Type: Gitea, Secret: []byte(secret)},
		"team/generic":  {Type: GenericHMAC, Secret: []byte(secret)},
		"team/nosecret": {Type: GitHub},
		"team/badtype":  {Type: "bitbucket", Secret: []byte(secret)},
	}, tr.trigger, o), tr
}

func sign(key, body string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

const body = `{"ref":"refs/heads/main"}`

// request builds a webhook of type t; sig is "good", "bad" or "missing".
func request(t Type, sig, event string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, Path("team", string(t)), strings.NewReader(body))
	good := map[bool]string{true: sign(secret, body), false: sign("other", body)}[sig == "good"]
	switch t {
	case GitHub:
		if sig != "missing" {
			r.Header.Set("X-Hub-Signature-256", "sha256="+good)
		}
		r.Header.Set("X-GitHub-Event", event)
	case GitLab:
		if sig != "missing" {
			r.Header.Set("X-Gitlab-Token", map[bool]string{true: secret, false: "other"}[sig == "good"])
		}
		r.Header.Set("X-Gitlab-Event", event)
	case Gitea:
		if sig != "missing" {
			r.Header.Set("X-Gitea-Signature", good)
		}
		r.Header.Set("X-Gitea-Event", event)
	case GenericHMAC:
		if sig != "missing" {
			r.Header.Set("X-Signature", "sha256="+good)
		}
	}
	return r
}

type verifyCase struct {
	name        string
	sig, event  string
	wantStatus  int
	wantTrigger bool
}

func TestVerification(t *testing.T) {
	types := []struct {
		typ       Type
		path      string
		push, tag string   // events that trigger
		others    []string // verified, answered 200, no trigger
	}{
		{GitHub, "github", "push", "create", []string{"ping", "issues"}},
		{GitLab, "gitlab", "Push Hook", "Tag Push Hook", []string{"Merge Request Hook", "Pipeline Hook"}},
		{Gitea, "gitea", "push", "create", []string{"pull_request", "release"}},
		{GenericHMAC, "generic", "", "", nil},
	}
	for _, ty := range types {
		cases := []verifyCase{
			{"good push", "good", ty.push, http.StatusAccepted, true},
			{"good tag", "good", ty.tag, http.StatusAccepted, true},
			{"bad signature", "bad", ty.push, http.StatusUnauthorized, false},
			{"missing signature", "missing", ty.push, http.StatusUnauthorized, false},
		}
		for _, other := range ty.others {
			cases = append(cases,
				verifyCase{"event " + other, "good", other, http.StatusOK, false},
				verifyCase{"unsigned " + other, "bad", other, http.StatusUnauthorized, false},
			)
		}
		if ty.typ != GenericHMAC {
			cases = append(cases, verifyCase{"no event header", "good", "", http.StatusBadRequest, false})
		}
		for _, tc := range cases {
			t.Run(string(ty.typ)+"/"+tc.name, func(t *testing.T) {
				h, tr := newHandler()
				r := request(ty.typ, tc.sig, tc.event)
				r.URL.Path = Path("team", ty.path)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != tc.wantStatus {
					t.Errorf("status = %d, want %d (body %q)", rec.Code, tc.wantStatus, rec.Body)
				}
				var want []string
				if tc.wantTrigger {
					want = []string{"team/" + ty.path}
				}
				if strings.Join(tr.calls, ",") != strings.Join(want, ",") {
					t.Errorf("triggers = %v, want %v", tr.calls, want)
				}
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("response echoes the secret: %q", rec.Body)
				}
			})
		}
	}
}

func TestSignatureForms(t *testing.T) {
	good := sign(secret, body)
	tests := []struct {
		name   string
		typ    Type
		header string
		value  string
		want   int
	}{
		{"github upper-case hex", GitHub, "X-Hub-Signature-256", "sha256=" + strings.ToUpper(good), http.StatusAccepted},
		{"github without prefix", GitHub, "X-Hub-Signature-256", good, http.StatusUnauthorized},
		{"github sha1 prefix", GitHub, "X-Hub-Signature-256", "sha1=" + good, http.StatusUnauthorized},
		{"github not hex", GitHub, "X-Hub-Signature-256", "sha256=zz", http.StatusUnauthorized},
		{"github truncated", GitHub, "X-Hub-Signature-256", "sha256=" + good[:20], http.StatusUnauthorized},
		{"gitea with prefix", Gitea, "X-Gitea-Signature", "sha256=" + good, http.StatusUnauthorized},
		{"generic without prefix", GenericHMAC, "X-Signature", good, http.StatusUnauthorized},
		{"gitlab token prefix", GitLab, "X-Gitlab-Token", secret[:5], http.StatusUnauthorized},
		{"gitlab token longer", GitLab, "X-Gitlab-Token", secret + "x", http.StatusUnauthorized},
	}
	paths := map[Type]string{GitHub: "github", GitLab: "gitlab", Gitea: "gitea", GenericHMAC: "generic"}
	events := map[Type][2]string{GitHub: {"X-GitHub-Event", "push"}, GitLab: {"X-Gitlab-Event", "Push Hook"}, Gitea: {"X-Gitea-Event", "push"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, tr := newHandler()
			r := httptest.NewRequest(http.MethodPost, Path("team", paths[tc.typ]), strings.NewReader(body))
			r.Header.Set(tc.header, tc.value)
			if ev, ok := events[tc.typ]; ok {
				r.Header.Set(ev[0], ev[1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d", rec.Code, tc.want)
			}
			if got := len(tr.calls); (got == 1) != (tc.want == http.StatusAccepted) || got > 1 {
				t.Errorf("%d triggers", got)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	signed := func(method, path, payload string) *http.Request {
		r := httptest.NewRequest(method, path, strings.NewReader(payload))
		r.Header.Set("X-Signature", "sha256="+sign(secret, payload))
		return r
	}
	tests := []struct {
		name string
		req  *http.Request
		max  int64
		want int
	}{
		{"unknown source", signed(http.MethodPost, Path("team", "nope"), body), 0, http.StatusUnauthorized},
		{"unknown namespace", signed(http.MethodPost, Path("other", "generic"), body), 0, http.StatusUnauthorized},
		{"other path", signed(http.MethodPost, "/hooks/team/generic", body), 0, http.StatusNotFound},
		{"extra segment", signed(http.MethodPost, Path("team", "generic")+"/x", body), 0, http.StatusNotFound},
		{"GET", signed(http.MethodGet, Path("team", "generic"), ""), 0, http.StatusMethodNotAllowed},
		{"PUT", signed(http.MethodPut, Path("team", "generic"), body), 0, http.StatusMethodNotAllowed},
		{"body over the limit", signed(http.MethodPost, Path("team", "generic"), body), int64(len(body) - 1), http.StatusRequestEntityTooLarge},
		{"body at the limit", signed(http.MethodPost, Path("team", "generic"), body), int64(len(body)), http.StatusAccepted},
		{"lookup error", signed(http.MethodPost, Path("team", "broken"), body), 0, http.StatusUnauthorized},
		{"empty secret", signed(http.MethodPost, Path("team", "nosecret"), body), 0, http.StatusUnauthorized},
		{"unknown type", signed(http.MethodPost, Path("team", "badtype"), body), 0, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, tr := newHandlerWith(Options{MaxBody: tc.max})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tc.want, rec.Body)
			}
			if tc.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
			if got := len(tr.calls); got != map[bool]int{true: 1, false: 0}[tc.want == http.StatusAccepted] {
				t.Errorf("%d triggers", got)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("response echoes the secret: %q", rec.Body)
			}
		})
	}
}

// TestChunkedBodyOverLimit covers a body without Content-Length, cut off while read.
func TestChunkedBodyOverLimit(t *testing.T) {
	h, tr := newHandlerWith(Options{MaxBody: 1024})
	srv := httptest.NewServer(h)
	defer srv.Close()
	payload := strings.Repeat("x", 4096)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Path("team", "generic"), struct{ *strings.Reader }{strings.NewReader(payload)})
	req.Header.Set("X-Signature", "sha256="+sign(secret, payload))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(tr.calls) != 0 {
		t.Errorf("status %d, %d triggers; want 413 and none", resp.StatusCode, len(tr.calls))
	}
}

func TestPath(t *testing.T) {
	if got := Path("team-a", "repo"); got != "/hook/team-a/repo" {
		t.Errorf("Path = %q", got)
	}
}

func TestTriggerContextOutlivesRequest(t *testing.T) {
	var got context.Context
	h := NewHandler(fakeLookup{"team/generic": {Type: GenericHMAC, Secret: []byte(secret)}}, func(ctx context.Context, _, _ string) { got = ctx }, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	r := request(GenericHMAC, "good", "").WithContext(ctx)
	r.URL.Path = Path("team", "generic")
	h.ServeHTTP(httptest.NewRecorder(), r)
	cancel()
	if got == nil || got.Err() != nil {
		t.Errorf("trigger context = %v, want one that is not cancelled with the request", got)
	}
}
