package status

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// hostState is what each provider is expected to store for each state.
var hostState = map[Provider]map[State]string{
	GitHub:          {Pending: "pending", Success: "success", Failure: "failure", Error: "error"},
	Gitea:           {Pending: "pending", Success: "success", Failure: "failure", Error: "error"},
	GitLab:          {Pending: "pending", Success: "success", Failure: "failed", Error: "failed"},
	Bitbucket:       {Pending: "INPROGRESS", Success: "SUCCESSFUL", Failure: "FAILED", Error: "FAILED"},
	BitbucketServer: {Pending: "INPROGRESS", Success: "SUCCESSFUL", Failure: "FAILED", Error: "FAILED"},
}

func TestPost(t *testing.T) {
	for _, hc := range hostCases {
		t.Run(hc.name, func(t *testing.T) {
			f, p := newFake(t, hc)
			s := Status{Context: "trustsync/team-a/agents", State: Success, Description: "applied 12 objects", TargetURL: "https://trustsync.example/runs/42"}
			posted, err := p.Post(context.Background(), commitA, s)
			if err != nil || !posted {
				t.Fatalf("Post = %v, %v; want true, nil", posted, err)
			}
			got, ok := f.newest(commitA, s.Context)
			if !ok {
				t.Fatalf("host has no status for %q", s.Context)
			}
			want := stored{ID: got.ID, Context: s.Context, Key: got.Key, State: hostState[hc.provider][Success], Description: s.Description, URL: s.TargetURL}
			if got != want {
				t.Errorf("host stored %+v, want %+v", got, want)
			}
			if g, p := f.count(http.MethodGet), f.count(http.MethodPost); g != 1 || p != 1 {
				t.Errorf("requests: %d GET, %d POST; want 1 and 1", g, p)
			}
		})
	}
}

func TestPostDedupe(t *testing.T) {
	first := Status{Context: "trustsync/team-a/agents", State: Pending, Description: "reconciling"}
	tests := []struct {
		name       string
		second     Status
		commit     string
		wantPosted bool
	}{
		{"same state and description", first, commitA, false},
		{"changed description", Status{Context: first.Context, State: Pending, Description: "reconciling 3 of 9"}, commitA, true},
		{"changed state", Status{Context: first.Context, State: Success, Description: "reconciling"}, commitA, true},
		{"changed target URL only", Status{Context: first.Context, State: Pending, Description: "reconciling", TargetURL: "https://x.example/1"}, commitA, false},
		{"other context", Status{Context: "trustsync/team-b/agents", State: Pending, Description: "reconciling"}, commitA, true},
		{"other commit", first, commitB, true},
	}
	for _, hc := range hostCases {
		for _, tt := range tests {
			t.Run(hc.name+"/"+tt.name, func(t *testing.T) {
				f, p := newFake(t, hc)
				if _, err := p.Post(context.Background(), commitA, first); err != nil {
					t.Fatal(err)
				}
				posted, err := p.Post(context.Background(), tt.commit, tt.second)
				if err != nil {
					t.Fatal(err)
				}
				if posted != tt.wantPosted {
					t.Errorf("second Post posted = %v, want %v", posted, tt.wantPosted)
				}
				wantPosts := 1
				if tt.wantPosted {
					wantPosts = 2
				}
				if n := f.count(http.MethodPost); n != wantPosts {
					t.Errorf("host got %d POSTs, want %d", n, wantPosts)
				}
			})
		}
	}
}

func TestPendingThenSuccess(t *testing.T) {
	steps := []struct {
		state      State
		desc       string
		wantPosted bool
	}{
		{Pending, "reconciling", true},
		{Pending, "reconciling", false},
		{Success, "applied", true},
		{Success, "applied", false},
	}
	for _, hc := range hostCases {
		t.Run(hc.name, func(t *testing.T) {
			f, p := newFake(t, hc)
			const ctxName = "trustsync/team-a/agents"
			for i, st := range steps {
				posted, err := p.Post(context.Background(), commitA, Status{Context: ctxName, State: st.state, Description: st.desc})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if posted != st.wantPosted {
					t.Errorf("step %d (%s): posted = %v, want %v", i, st.state, posted, st.wantPosted)
				}
			}
			got, _ := f.newest(commitA, ctxName)
			if want := hostState[hc.provider][Success]; got.State != want || got.Description != "applied" {
				t.Errorf("newest status on host: %s %q, want %s %q", got.State, got.Description, want, "applied")
			}
		})
	}
}

func TestStateMapping(t *testing.T) {
	for _, hc := range hostCases {
		t.Run(hc.name, func(t *testing.T) {
			f, p := newFake(t, hc)
			for _, st := range []State{Pending, Success, Failure, Error} {
				c := "trustsync/" + string(st)
				if _, err := p.Post(context.Background(), commitA, Status{Context: c, State: st, Description: "d"}); err != nil {
					t.Fatal(err)
				}
				if got, _ := f.newest(commitA, c); got.State != hostState[hc.provider][st] {
					t.Errorf("%s stored as %q, want %q", st, got.State, hostState[hc.provider][st])
				}
			}
			// Hosts that merge failure and error see no change between them.
			c := "trustsync/flip"
			if _, err := p.Post(context.Background(), commitA, Status{Context: c, State: Failure, Description: "d"}); err != nil {
				t.Fatal(err)
			}
			posted, err := p.Post(context.Background(), commitA, Status{Context: c, State: Error, Description: "d"})
			if err != nil {
				t.Fatal(err)
			}
			if want := hostState[hc.provider][Failure] != hostState[hc.provider][Error]; posted != want {
				t.Errorf("error after failure: posted = %v, want %v", posted, want)
			}
		})
	}
}

func TestTruncateDescription(t *testing.T) {
	tests := []struct {
		name, in  string
		wantRunes int
		wantCut   bool
	}{
		{"empty", "", 0, false},
		{"short", "applied", 7, false},
		{"exactly 140", strings.Repeat("a", 140), 140, false},
		{"141", strings.Repeat("a", 141), 140, true},
		{"multi-byte runes count once", strings.Repeat("ü", 140), 140, false},
		{"long multi-byte", strings.Repeat("日本", 100), 140, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncateDescription(tt.in)
			if n := utf8.RuneCountInString(got); n != tt.wantRunes {
				t.Errorf("%d runes, want %d", n, tt.wantRunes)
			}
			if cut := strings.HasSuffix(got, "…") && got != tt.in; cut != tt.wantCut {
				t.Errorf("cut = %v, want %v (%q)", cut, tt.wantCut, got)
			}
			if !tt.wantCut && got != tt.in {
				t.Errorf("changed %q to %q", tt.in, got)
			}
			if tt.wantCut && !strings.HasPrefix(tt.in, strings.TrimSuffix(got, "…")) {
				t.Errorf("%q is not a prefix of the input", got)
			}
		})
	}
}

func TestPostTruncatesDescription(t *testing.T) {
	long := strings.Repeat("drift in deployment/agents; ", 10) // 280 characters
	for _, hc := range hostCases {
		t.Run(hc.name, func(t *testing.T) {
			f, p := newFake(t, hc)
			s := Status{Context: "trustsync/team-a/agents", State: Failure, Description: long}
			if _, err := p.Post(context.Background(), commitA, s); err != nil {
				t.Fatal(err)
			}
			got, _ := f.newest(commitA, s.Context)
			if n := utf8.RuneCountInString(got.Description); n != 140 || !strings.HasSuffix(got.Description, "…") {
				t.Errorf("host got %d-rune description %q, want 140 ending in …", n, got.Description)
			}
			// The same long description again must match what the host stored.
			posted, err := p.Post(context.Background(), commitA, s)
			if err != nil || posted {
				t.Errorf("repeat Post = %v, %v; want false, nil", posted, err)
			}
		})
	}
}

func TestBitbucketKeyAndURL(t *testing.T) {
	longContext := "trustsync/" + strings.Repeat("very-long-team-name/", 10) + "agents"
	tests := []struct {
		name, targetURL string
		wantURL         map[Provider]string
	}{
		{"target URL used", "https://trustsync.example/runs/7", map[Provider]string{
			Bitbucket: "https://trustsync.example/runs/7", BitbucketServer: "https://trustsync.example/runs/7"}},
		{"no target URL falls back to the repository page", "", map[Provider]string{
			Bitbucket: "https://bitbucket.org/ws/repo", BitbucketServer: "/projects/PROJ/repos/repo"}},
	}
	sum := sha1.Sum([]byte(longContext))
	wantKey := hex.EncodeToString(sum[:])
	for _, hc := range hostCases {
		if hc.provider != Bitbucket && hc.provider != BitbucketServer {
			continue
		}
		for _, tt := range tests {
			t.Run(hc.name+"/"+tt.name, func(t *testing.T) {
				f, p := newFake(t, hc)
				if _, err := p.Post(context.Background(), commitA, Status{Context: longContext, State: Success, TargetURL: tt.targetURL}); err != nil {
					t.Fatal(err)
				}
				got, _ := f.newest(commitA, longContext)
				if got.Key != wantKey || len(got.Key) != 40 {
					t.Errorf("key = %q, want %q (40 characters)", got.Key, wantKey)
				}
				if want := tt.wantURL[hc.provider]; !strings.HasSuffix(got.URL, want) || got.URL == "" {
					t.Errorf("url = %q, want it to end in %q", got.URL, want)
				}
			})
		}
	}
}

func TestErrorsNeverCarryToken(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testToken))
	for _, hc := range hostCases {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(hc.name+"/"+method, func(t *testing.T) {
				f, p := newFake(t, hc)
				f.failOn = method
				_, err := p.Post(context.Background(), commitA, Status{Context: "trustsync/a", State: Success, Description: "ok"})
				if err == nil {
					t.Fatal("Post succeeded against a failing host")
				}
				msg := err.Error()
				for _, secret := range []string{testToken, basic, base64.StdEncoding.EncodeToString([]byte(testToken)), hex.EncodeToString([]byte(testToken))} {
					if strings.Contains(msg, secret) {
						t.Errorf("error contains a secret: %s", msg)
					}
				}
				for _, want := range []string{string(hc.provider), hc.repository, commitA[:12], "HTTP 500", "[REDACTED]"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q lacks %q", msg, want)
					}
				}
				if strings.Contains(msg, commitA[:13]) {
					t.Errorf("error carries more than 12 characters of the commit: %s", msg)
				}
				var pe *PostError
				if !errors.As(err, &pe) || pe.StatusCode != 500 || len(pe.Body) > maxErrorBody {
					t.Errorf("want a *PostError with status 500 and at most %d body bytes, got %#v", maxErrorBody, err)
				}
			})
		}
	}
}

func TestPostRejectsBadInput(t *testing.T) {
	ok := Status{Context: "trustsync/a", State: Success}
	tests := []struct {
		name   string
		commit string
		s      Status
		want   string
	}{
		{"empty context", commitA, Status{State: Success}, "context: empty"},
		{"control character in context", commitA, Status{Context: "a\nb", State: Success}, "control characters"},
		{"context too long", commitA, Status{Context: strings.Repeat("c", 256), State: Success}, "longer than 255"},
		{"unknown state", commitA, Status{Context: "trustsync/a", State: "warning"}, `state "warning"`},
		{"empty state", commitA, Status{Context: "trustsync/a"}, `state ""`},
		{"relative target URL", commitA, Status{Context: "trustsync/a", State: Success, TargetURL: "/runs/1"}, "target URL"},
		{"short commit", commitA[:12], ok, "full 40 or 64"},
		{"branch name", "main", ok, "full 40 or 64"},
		{"path in commit", "../../etc/passwd" + strings.Repeat("0", 24), ok, "not hexadecimal"},
	}
	for _, hc := range hostCases {
		for _, tt := range tests {
			t.Run(hc.name+"/"+tt.name, func(t *testing.T) {
				f, p := newFake(t, hc)
				_, err := p.Post(context.Background(), tt.commit, tt.s)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Post error = %v, want one mentioning %q", err, tt.want)
				}
				if n := f.count(http.MethodGet) + f.count(http.MethodPost); n != 0 {
					t.Errorf("host got %d requests, want none", n)
				}
			})
		}
	}
}

func TestPostRespectsContext(t *testing.T) {
	f, p := newFake(t, hostCases[0])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Post(ctx, commitA, Status{Context: "trustsync/a", State: Success})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Post error = %v, want context.Canceled", err)
	}
	if n := f.count(http.MethodPost); n != 0 {
		t.Errorf("host got %d POSTs, want none", n)
	}
}

// Credentials must not follow a redirect to another host; GitLab's PRIVATE-TOKEN is the
// case Go's own redirect policy would forward.
func TestRedirectToOtherHostRefused(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		w.Write([]byte("[]"))
	}))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer origin.Close()
	p, err := New(Options{Provider: GitLab, Address: origin.URL + "/api/v4", Repository: "group/repo", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Post(context.Background(), commitA, Status{Context: "trustsync/a", State: Success})
	if err == nil || !strings.Contains(err.Error(), "refusing redirect") {
		t.Errorf("Post error = %v, want a refused redirect", err)
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("other host got %d requests", n)
	}
}
