package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestPushAndClone(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"anonymous", Options{}},
		{"basic", Options{Username: "alice", Password: "s3cret"}},
		{"bearer", Options{BearerToken: "tok-123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var pushed []string
			tc.opts.OnPush = func(repo string) {
				mu.Lock()
				defer mu.Unlock()
				pushed = append(pushed, repo)
			}
			s := NewServer(t, tc.opts)
			url := s.CreateRepo(t, "org/demo")
			if want := s.URL + "/org/demo.git"; url != want {
				t.Fatalf("url = %q, want %q", url, want)
			}

			w := s.Workspace(t, "org/demo")
			w.Write(t, map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n"})
			w.Symlink(t, "link", "a.yaml")
			sha := w.Commit(t, "first")
			w.Tag(t, "v1.0.0")
			w.Push(t)

			if got := strings.TrimSpace(s.Git(t, "org/demo", "rev-parse", "refs/heads/main")); got != sha {
				t.Errorf("server main = %s, want %s", got, sha)
			}
			if got := strings.TrimSpace(s.Git(t, "org/demo", "rev-parse", "v1.0.0^{commit}")); got != sha {
				t.Errorf("server tag = %s, want %s", got, sha)
			}
			mu.Lock()
			if len(pushed) != 1 || pushed[0] != "org/demo" {
				t.Errorf("OnPush calls = %v, want [org/demo]", pushed)
			}
			mu.Unlock()

			// A second clone sees the content, symlink included.
			w2 := s.Workspace(t, "org/demo")
			if b, err := os.ReadFile(filepath.Join(w2.Dir, "dir/b.yaml")); err != nil || string(b) != "b: 2\n" {
				t.Errorf("dir/b.yaml = %q, %v", b, err)
			}
			if target, err := os.Readlink(filepath.Join(w2.Dir, "link")); err != nil || target != "a.yaml" {
				t.Errorf("link = %q, %v", target, err)
			}
			w2.Write(t, map[string]string{"a.yaml": ""})
			w2.Commit(t, "delete a")
			w2.Push(t)
			if out := s.Git(t, "org/demo", "ls-tree", "--name-only", "main"); strings.Contains(out, "a.yaml") {
				t.Errorf("a.yaml still on main: %s", out)
			}
		})
	}
}

func TestCommitsAreDeterministic(t *testing.T) {
	s := NewServer(t, Options{})
	s.CreateRepo(t, "one")
	s.CreateRepo(t, "two")
	var shas []string
	for _, repo := range []string{"one", "two"} {
		w := s.Workspace(t, repo)
		w.Write(t, map[string]string{"f": "x"})
		w.Commit(t, "c1")
		shas = append(shas, w.Commit(t, "c2"))
	}
	if shas[0] != shas[1] {
		t.Errorf("same history gave %s and %s", shas[0], shas[1])
	}
}

func TestUnauthorized(t *testing.T) {
	s := NewServer(t, Options{Username: "alice", Password: "s3cret", BearerToken: "tok"})
	url := s.CreateRepo(t, "demo")
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong password", "Basic YWxpY2U6bm9wZQ==", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"basic", "Basic YWxpY2U6czNjcmV0", http.StatusOK},
		{"bearer", "Bearer tok", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, url+"/info/refs?service=git-upload-pack", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestSSH(t *testing.T) {
	s := NewServer(t, Options{})
	s.CreateRepo(t, "demo")
	w := s.Workspace(t, "demo")
	w.Write(t, map[string]string{"f": "over ssh\n"})
	sha := w.Commit(t, "c1")
	w.Push(t)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.ServeSSH(t, sshPub)

	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, srv.KnownHosts, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(gitEnv(dir), "GIT_SSH_COMMAND=ssh -F /dev/null -i "+key+" -o IdentitiesOnly=yes -o UserKnownHostsFile="+known+" -o StrictHostKeyChecking=yes -o BatchMode=yes")
	clone := filepath.Join(dir, "clone")
	runGit(t, env, "", "clone", "--quiet", srv.RepoURL("demo"), clone)
	if got := strings.TrimSpace(runGit(t, env, clone, "rev-parse", "HEAD")); got != sha {
		t.Errorf("cloned HEAD = %s, want %s", got, sha)
	}

	// An unknown key is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherBlock, _ := ssh.MarshalPrivateKey(other, "")
	otherKey := filepath.Join(dir, "other")
	if err := os.WriteFile(otherKey, pem.EncodeToMemory(otherBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	env2 := append(gitEnv(dir), "GIT_SSH_COMMAND=ssh -F /dev/null -i "+otherKey+" -o IdentitiesOnly=yes -o UserKnownHostsFile="+known+" -o StrictHostKeyChecking=yes -o BatchMode=yes")
	if _, err := gitOutput(env2, "", "clone", "--quiet", srv.RepoURL("demo"), filepath.Join(dir, "clone2")); err == nil {
		t.Error("clone with an unauthorised key succeeded")
	}
}
