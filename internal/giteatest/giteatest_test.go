package giteatest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// webhookWait bounds how long a push may take to reach the receiver.
const webhookWait = 20 * time.Second

func TestBinaryNamesTheFix(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "no-gitea"))
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), EnvBinary) || !strings.Contains(err.Error(), "make gitea") {
		t.Fatalf("Binary() with a missing %s: got %v, want an error naming %s and `make gitea`", EnvBinary, err, EnvBinary)
	}
}

func TestBasicAuthURL(t *testing.T) {
	s := &Server{User: "u", Token: "t0k"}
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:3000/u/demo.git", "http://u:t0k@127.0.0.1:3000/u/demo.git"},
		{"http://old:creds@127.0.0.1:3000/u/demo.git", "http://u:t0k@127.0.0.1:3000/u/demo.git"},
	} {
		if got := s.BasicAuthURL(tc.in); got != tc.want {
			t.Errorf("BasicAuthURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGitea drives a real Gitea the way trustsync's tests will: push over HTTP, commit
// statuses through the API, and a signed push webhook delivered to a loopback receiver.
func TestGitea(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Fatal(err) // a test that needs the real forge never skips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	begin := time.Now()
	srv, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gitea %s started in %s at %s", Version, time.Since(begin).Round(time.Millisecond), srv.URL)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Stop()
		}
	})

	const repo = "demo"
	cloneURL, err := srv.CreateRepo(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + srv.User + "/" + repo + ".git"; cloneURL != want {
		t.Errorf("clone URL = %q, want %q", cloneURL, want)
	}

	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	sha1 := commit(t, work, "first")
	git(t, work, "push", "-q", srv.BasicAuthURL(cloneURL), "main")

	t.Run("commit statuses", func(t *testing.T) {
		postStatus(t, srv, repo, sha1, `{"state":"pending","context":"trustsync/sync","description":"syncing"}`)
		postStatus(t, srv, repo, sha1, `{"state":"success","context":"trustsync/sync","description":"synced","target_url":"http://127.0.0.1:9/sync/1"}`)
		got, err := srv.Statuses(ctx, repo, sha1)
		if err != nil {
			t.Fatal(err)
		}
		want := []Status{
			{Context: "trustsync/sync", State: "success", Description: "synced", TargetURL: "http://127.0.0.1:9/sync/1"},
			{Context: "trustsync/sync", State: "pending", Description: "syncing"},
		}
		if len(got) != len(want) {
			t.Fatalf("statuses = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("status %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("push webhook", func(t *testing.T) {
		type delivery struct {
			header http.Header
			body   []byte
		}
		received := make(chan delivery, 16)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.Method == http.MethodPost {
				select {
				case received <- delivery{r.Header.Clone(), body}:
				default: // a full channel means the test has what it needs
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer hook.Close()

		const secret = "hook-secret"
		if err := srv.CreatePushWebhook(ctx, repo, hook.URL+"/hook", secret); err != nil {
			t.Fatal(err)
		}
		sha2 := commit(t, work, "second")
		pushed := time.Now()
		git(t, work, "push", "-q", srv.BasicAuthURL(cloneURL), "main")

		// Gitea handles pushes through a queue, so the first push may still be turned into a
		// delivery after the hook exists: wait for the one about sha2, checking every one.
		deadline := time.After(webhookWait)
		for {
			select {
			case d := <-received:
				if got := d.header.Get("X-Gitea-Event"); got != "push" {
					t.Errorf("X-Gitea-Event = %q, want push", got)
				}
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write(d.body)
				if got, want := d.header.Get("X-Gitea-Signature"), hex.EncodeToString(mac.Sum(nil)); got != want {
					t.Errorf("X-Gitea-Signature = %q, want hex HMAC-SHA256 of the body %q", got, want)
				}
				var payload struct {
					Ref   string `json:"ref"`
					After string `json:"after"`
				}
				if err := json.Unmarshal(d.body, &payload); err != nil {
					t.Fatalf("webhook body is not JSON: %v", err)
				}
				if payload.Ref != "refs/heads/main" {
					t.Errorf("webhook payload ref = %q, want refs/heads/main", payload.Ref)
				}
				if payload.After == sha2 {
					t.Logf("push webhook delivered %s after the push", time.Since(pushed).Round(time.Millisecond))
					return
				}
				if payload.After != sha1 {
					t.Errorf("webhook payload after = %q, want %s (or %s, the first push)", payload.After, sha2, sha1)
				}
			case <-deadline:
				t.Fatalf("no push webhook for %s within %s", sha2, webhookWait)
			}
		}
	})

	stopped = true
	if err := srv.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := srv.healthz(ctx); err == nil {
		t.Errorf("gitea still answers at %s after Stop", srv.URL)
	}
}

// postStatus creates a commit status the way any GitHub-style client would: a plain POST
// with a token header.
func postStatus(t *testing.T, srv *Server, repo, sha, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.APIURL+"/repos/"+srv.User+"/"+repo+"/statuses/"+sha, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+srv.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST status %s: %s: %s", body, resp.Status, data)
	}
}

// commit adds a file and commits it, returning the new commit's SHA.
func commit(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", ".")
	git(t, dir, "-c", "user.name=trustsync test", "-c", "user.email=test@example.org", "commit", "-q", "-m", name)
	return strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
}

// git runs the git CLI isolated from the user's and the system's configuration.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1") // curl, unlike Go, would send loopback through a proxy
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The push URL carries the token; name the subcommand only.
		t.Fatalf("git %s: %v: %s", args[0], err, stderr.String())
	}
	return stdout.String()
}
