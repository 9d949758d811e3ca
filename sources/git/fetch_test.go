package git

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/gittest"
)

// testTimeout bounds every fetch in these tests.
const testTimeout = 60 * time.Second

func fetch(t *testing.T, f *Fetcher, r Request) (*Artifact, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return f.Fetch(ctx, r)
}

func mustFetch(t *testing.T, f *Fetcher, r Request) *Artifact {
	t.Helper()
	a, err := fetch(t, f, r)
	if err != nil {
		t.Fatalf("Fetch(%+v): %v", r.Ref, err)
	}
	return a
}

// newRepo starts a server with one repository and a workspace on it.
func newRepo(t *testing.T, o gittest.Options) (*gittest.Server, *gittest.Workspace, string) {
	t.Helper()
	s := gittest.NewServer(t, o)
	url := s.CreateRepo(t, "demo")
	return s, s.Workspace(t, "demo"), url
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func TestFetchBranch(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"app.yaml": "on main\n"})
	mainSHA := w.Commit(t, "main")
	w.Push(t)
	w.Git(t, "checkout", "-q", "-b", "dev")
	w.Write(t, map[string]string{"app.yaml": "on dev\n", "sub/dir/x.yaml": "x\n"})
	devSHA := w.Commit(t, "dev")
	w.Push(t)

	tests := []struct {
		name         string
		ref          Ref
		wantRevision string
		wantContent  string
	}{
		{"default is main", Ref{}, "main@sha1:" + mainSHA, "on main\n"},
		{"main", Ref{Branch: "main"}, "main@sha1:" + mainSHA, "on main\n"},
		{"dev", Ref{Branch: "dev"}, "dev@sha1:" + devSHA, "on dev\n"},
	}
	f := &Fetcher{CacheDir: t.TempDir()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustFetch(t, f, Request{URL: url, Ref: tc.ref})
			if a.Revision != tc.wantRevision {
				t.Errorf("Revision = %q, want %q", a.Revision, tc.wantRevision)
			}
			if !strings.HasSuffix(tc.wantRevision, a.Commit) || len(a.Commit) != 40 {
				t.Errorf("Commit = %q", a.Commit)
			}
			if got := readFile(t, a.Dir, "app.yaml"); got != tc.wantContent {
				t.Errorf("app.yaml = %q, want %q", got, tc.wantContent)
			}
			if filepath.Base(a.Dir) != a.Commit {
				t.Errorf("Dir = %s, want it named by the commit", a.Dir)
			}
			if a.URL != url || !strings.HasPrefix(a.Digest, "sha256:") || a.FetchedAt.IsZero() {
				t.Errorf("artifact = %+v", a)
			}
		})
	}
}

func TestFetchIncremental(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"v": "1\n"})
	first := w.Commit(t, "one")
	w.Push(t)

	f := &Fetcher{CacheDir: t.TempDir()}
	a1 := mustFetch(t, f, Request{URL: url})
	if a1.Commit != first {
		t.Fatalf("first fetch: commit %s, want %s", a1.Commit, first)
	}
	repoDir := filepath.Join(filepath.Dir(filepath.Dir(a1.Dir)), "repo")
	marker := filepath.Join(repoDir, "test-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	packsBefore := packs(t, repoDir)

	// Same commit again: nothing new, the tree is reused.
	again := mustFetch(t, f, Request{URL: url})
	if again.Dir != a1.Dir || again.Digest != a1.Digest {
		t.Errorf("refetch of the same commit: %+v, want dir and digest of %+v", again, a1)
	}

	w.Write(t, map[string]string{"v": "2\n"})
	second := w.Commit(t, "two")
	w.Push(t)
	a2 := mustFetch(t, f, Request{URL: url})
	if a2.Commit != second {
		t.Fatalf("second fetch: commit %s, want %s", a2.Commit, second)
	}
	if got := readFile(t, a2.Dir, "v"); got != "2\n" {
		t.Errorf("v = %q after the second fetch", got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("cached repository was recreated: %v", err)
	}
	after := packs(t, repoDir)
	for p := range packsBefore {
		if !after[p] {
			t.Errorf("pack %s of the first fetch is gone: the repository was re-cloned", p)
		}
	}
	if len(after) <= len(packsBefore) {
		t.Errorf("packs %d -> %d, want the new commit in a new pack", len(packsBefore), len(after))
	}
	if _, err := os.Stat(a1.Dir); err != nil {
		t.Errorf("older tree pruned below KeepTrees: %v", err)
	}
}

func TestFetchRewrittenHistory(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"f": "a\n"})
	base := w.Commit(t, "a")
	w.Write(t, map[string]string{"f": "b\n"})
	w.Commit(t, "b")
	w.Tag(t, "v1.0.0")
	w.Push(t)
	f := &Fetcher{CacheDir: t.TempDir()}
	mustFetch(t, f, Request{URL: url})
	mustFetch(t, f, Request{URL: url, Ref: Ref{Tag: "v1.0.0"}})

	// Force-push main to a sibling of what was fetched, and move the tag with it.
	w.Git(t, "reset", "-q", "--hard", base)
	w.Write(t, map[string]string{"f": "c\n"})
	rewritten := w.Commit(t, "c")
	w.Git(t, "tag", "-f", "-a", "-m", "moved", "v1.0.0")
	w.Push(t, "+main", "+refs/tags/v1.0.0")

	for _, ref := range []Ref{{}, {Tag: "v1.0.0"}} {
		a := mustFetch(t, f, Request{URL: url, Ref: ref})
		if a.Commit != rewritten || readFile(t, a.Dir, "f") != "c\n" {
			t.Errorf("%+v after force-push: commit %s, want %s", ref, a.Commit, rewritten)
		}
	}
}

func packs(t *testing.T, repoDir string) map[string]bool {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(repoDir, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[filepath.Base(n)] = true
	}
	return out
}

func TestFetchTagAndSemVer(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	commits := map[string]string{}
	for _, tag := range []string{"v1.0.0", "v1.2.0", "1.10.0", "v1.11.0-rc.1", "v2.0.0", "release", "v1.12"} {
		w.Write(t, map[string]string{"version": tag + "\n"})
		commits[tag] = w.Commit(t, tag)
		if tag == "v1.2.0" || tag == "release" {
			w.LightweightTag(t, tag)
		} else {
			w.Tag(t, tag)
		}
	}
	w.Push(t)

	tests := []struct {
		name    string
		ref     Ref
		wantTag string
		wantErr string
	}{
		{"annotated tag", Ref{Tag: "v1.0.0"}, "v1.0.0", ""},
		{"lightweight tag", Ref{Tag: "v1.2.0"}, "v1.2.0", ""},
		{"non-semver tag", Ref{Tag: "release"}, "release", ""},
		{"semver 1.x picks the highest release, v or not", Ref{SemVer: ">=1.0.0 <2.0.0"}, "1.10.0", ""},
		{"semver caret", Ref{SemVer: "^1.1"}, "1.10.0", ""},
		{"semver tilde", Ref{SemVer: "~1.2.0"}, "v1.2.0", ""},
		{"semver any", Ref{SemVer: "*"}, "v2.0.0", ""},
		{"semver prerelease only when asked", Ref{SemVer: ">=1.11.0-rc.0 <2.0.0"}, "v1.11.0-rc.1", ""},
		{"semver no match", Ref{SemVer: ">=3.0.0"}, "", `semver ">=3.0.0": not found: no tag matches`},
		{"semver invalid", Ref{SemVer: "not a range"}, "", "invalid semver constraint"},
	}
	f := &Fetcher{CacheDir: t.TempDir()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := fetch(t, f, Request{URL: url, Ref: tc.ref})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantTag + "@sha1:" + commits[tc.wantTag]
			if a.Revision != want {
				t.Errorf("Revision = %q, want %q", a.Revision, want)
			}
			if got := readFile(t, a.Dir, "version"); got != tc.wantTag+"\n" {
				t.Errorf("version = %q", got)
			}
		})
	}
}

func TestFetchCommit(t *testing.T) {
	for _, allowSHAWant := range []bool{false, true} {
		name := "server refuses SHA wants"
		if allowSHAWant {
			name = "server allows SHA wants"
		}
		t.Run(name, func(t *testing.T) {
			s, w, url := newRepo(t, gittest.Options{})
			if allowSHAWant {
				s.Git(t, "demo", "config", "uploadpack.allowAnySHA1InWant", "true")
			}
			var shas []string
			for i := range 4 {
				w.Write(t, map[string]string{"n": string(rune('a'+i)) + "\n"})
				shas = append(shas, w.Commit(t, "c"))
			}
			w.Push(t)

			f := &Fetcher{CacheDir: t.TempDir()}
			// A shallow branch fetch first, so commit fetches must deepen the cache.
			first := mustFetch(t, f, Request{URL: url})
			repoDir := filepath.Join(first.Dir, "..", "..", "repo")
			if shallowCommits(t, repoDir) != 1 {
				t.Fatalf("branch fetch is not shallow: %d shallow commits", shallowCommits(t, repoDir))
			}

			tests := []struct {
				name    string
				commit  string
				want    string
				content string
			}{
				{"head", shas[3], shas[3], "d\n"},
				{"older", shas[1], shas[1], "b\n"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					a := mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: tc.commit}})
					if a.Revision != "sha1:"+tc.want || a.Commit != tc.want {
						t.Errorf("Revision = %q, Commit = %q, want %s", a.Revision, a.Commit, tc.want)
					}
					if got := readFile(t, a.Dir, "n"); got != tc.content {
						t.Errorf("n = %q, want %q", got, tc.content)
					}
				})
			}
			// Exact SHA wants keep the cache shallow; otherwise it was deepened.
			if n := shallowCommits(t, repoDir); (n > 0) != allowSHAWant {
				t.Errorf("%d shallow commits after the commit fetches", n)
			}
			// A prefix cannot be wanted: the history is fetched whole.
			if a := mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: shas[0][:10]}}); a.Commit != shas[0] || readFile(t, a.Dir, "n") != "a\n" {
				t.Errorf("by prefix: %+v, want commit %s", a, shas[0])
			}
			if n := shallowCommits(t, repoDir); n != 0 {
				t.Errorf("%d shallow commits after a full fetch", n)
			}

			// The branch still fetches incrementally after the deepening.
			w.Write(t, map[string]string{"n": "e\n"})
			head := w.Commit(t, "e")
			w.Push(t)
			if a := mustFetch(t, f, Request{URL: url}); a.Commit != head {
				t.Errorf("branch after commit fetches: %s, want %s", a.Commit, head)
			}
			if a := mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: shas[2]}}); a.Commit != shas[2] {
				t.Errorf("commit after branch fetch: %s, want %s", a.Commit, shas[2])
			}
		})
	}
}

// shallowCommits counts the cache repository's shallow boundary.
func shallowCommits(t *testing.T, repoDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoDir, "shallow"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(b)))
}

func TestFetchNotFound(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"f": "x"})
	w.Commit(t, "c")
	w.Tag(t, "v1.0.0")
	w.Push(t)
	s2 := gittest.NewServer(t, gittest.Options{})
	emptyURL := s2.CreateRepo(t, "empty")

	tests := []struct {
		name string
		url  string
		ref  Ref
		want []string
	}{
		{"branch", url, Ref{Branch: "nope"}, []string{`branch "nope"`}},
		{"tag", url, Ref{Tag: "v9.9.9"}, []string{`tag "v9.9.9"`}},
		{"commit", url, Ref{Commit: strings.Repeat("ab", 20)}, []string{`commit "abab`}},
		{"short commit", url, Ref{Commit: "0000000"}, []string{`commit "0000000"`}},
		{"semver", url, Ref{SemVer: ">=2"}, []string{`semver ">=2"`}},
		{"empty repository", emptyURL, Ref{}, []string{`branch "main"`}},
	}
	f := &Fetcher{CacheDir: t.TempDir()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetch(t, f, Request{URL: tc.url, Ref: tc.ref})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			for _, want := range append(tc.want, tc.url) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to name %q", err, want)
				}
			}
		})
	}
}

func TestFetchBadRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"two refs", Request{URL: "https://example.invalid/r.git", Ref: Ref{Branch: "a", Tag: "b"}}, "at most one"},
		{"bad branch name", Request{URL: "https://example.invalid/r.git", Ref: Ref{Branch: "a..b"}}, "not a valid ref name"},
		{"bad commit", Request{URL: "https://example.invalid/r.git", Ref: Ref{Commit: "XYZ"}}, "hex"},
		{"scheme", Request{URL: "file:///tmp/r"}, "not supported"},
		{"password in URL", Request{URL: "https://bob:hunter2@example.invalid/r.git"}, "must not contain credentials"},
		{"token as the URL's user", Request{URL: "https://hunter2@example.invalid/r.git"}, "must not contain credentials"},
		{"password with a slash, which does not parse", Request{URL: "https://bob:x/hunter2@example.invalid/r.git"}, "must not contain credentials"},
		{"password in an ssh URL", Request{URL: "ssh://git:hunter2@example.invalid/r.git"}, "must not contain credentials"},
		{"token in the query", Request{URL: "https://example.invalid/r.git?access_token=hunter2"}, "must not have a query"},
		{"ssh without key", Request{URL: "git@example.invalid:org/r.git"}, "needs identity and known_hosts"},
		{"ssh key on https", Request{URL: "https://example.invalid/r.git", Auth: sshAuthForTest(t)}, "cannot be used with a https URL"},
	}
	f := &Fetcher{CacheDir: t.TempDir()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetch(t, f, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestFetchAuth(t *testing.T) {
	const user, password, token = "alice", "pa55-w0rd-xyz", "tok-abcdef-123456"
	tests := []struct {
		name    string
		opts    gittest.Options
		auth    *Auth
		wantErr bool
	}{
		{"basic", gittest.Options{Username: user, Password: password}, &Auth{Username: user, Password: password}, false},
		{"basic wrong password", gittest.Options{Username: user, Password: "other-secret"}, &Auth{Username: user, Password: password}, true},
		{"basic missing", gittest.Options{Username: user, Password: password}, nil, true},
		{"bearer", gittest.Options{BearerToken: token}, &Auth{BearerToken: token}, false},
		{"bearer wrong token", gittest.Options{BearerToken: "other-token"}, &Auth{BearerToken: token}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, w, url := newRepo(t, tc.opts)
			w.Write(t, map[string]string{"f": "x"})
			sha := w.Commit(t, "c")
			w.Push(t)

			f := &Fetcher{CacheDir: t.TempDir()}
			for _, ref := range []Ref{{}, {Commit: sha}, {SemVer: "*"}} {
				a, err := fetch(t, f, Request{URL: url, Ref: ref, Auth: tc.auth})
				if ref.SemVer != "" && !tc.wantErr {
					// No tags: the listing worked, nothing matched.
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("semver: err = %v, want ErrNotFound", err)
					}
					continue
				}
				if tc.wantErr {
					if err == nil {
						t.Fatalf("%+v: fetch succeeded", ref)
					}
					for _, secret := range []string{password, token} {
						if strings.Contains(err.Error(), secret) {
							t.Errorf("error leaks a credential: %v", err)
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("%+v: %v", ref, err)
				}
				if a.Commit != sha {
					t.Errorf("%+v: commit %s, want %s", ref, a.Commit, sha)
				}
			}
		})
	}
}

// TestFetchCachedCommitChecksCredentials: a commit already in the cache is not handed
// to a request whose credentials the server refuses.
func TestFetchCachedCommitChecksCredentials(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{Username: "alice", Password: "right-one"})
	w.Write(t, map[string]string{"f": "x"})
	sha := w.Commit(t, "c")
	w.Push(t)
	f := &Fetcher{CacheDir: t.TempDir()}
	mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: sha}, Auth: &Auth{Username: "alice", Password: "right-one"}})
	if _, err := fetch(t, f, Request{URL: url, Ref: Ref{Commit: sha}, Auth: &Auth{Username: "alice", Password: "wrong-one"}}); err == nil {
		t.Fatal("cached commit served with wrong credentials")
	}
}

func TestDigest(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"a.yaml": "a\n", "b/c.yaml": "c\n"})
	w.Commit(t, "one")
	w.Push(t)

	f1 := &Fetcher{CacheDir: t.TempDir()}
	f2 := &Fetcher{CacheDir: t.TempDir()}
	a1 := mustFetch(t, f1, Request{URL: url})
	a2 := mustFetch(t, f2, Request{URL: url})
	if a1.Digest != a2.Digest {
		t.Errorf("digest differs between fetches: %s vs %s", a1.Digest, a2.Digest)
	}
	// The digest kept beside the tree is used, and recomputed when it is lost.
	if err := os.Remove(a1.Dir + digestSuffix); err != nil {
		t.Fatal(err)
	}
	if again := mustFetch(t, f1, Request{URL: url}); again.Digest != a1.Digest {
		t.Errorf("recomputed digest %s, want %s", again.Digest, a1.Digest)
	}

	seen := map[string]string{a1.Digest: "initial"}
	changes := []struct {
		name   string
		change func()
	}{
		{"content", func() { w.Write(t, map[string]string{"a.yaml": "A\n"}) }},
		{"new file", func() { w.Write(t, map[string]string{"d.yaml": "d\n"}) }},
		{"rename", func() { w.Write(t, map[string]string{"d.yaml": "", "e.yaml": "d\n"}) }},
		{"mode", func() {
			if err := os.Chmod(filepath.Join(w.Dir, "e.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink", func() { w.Symlink(t, "link", "a.yaml") }},
		{"symlink target", func() { w.Symlink(t, "link", "e.yaml") }},
	}
	for _, c := range changes {
		c.change()
		w.Commit(t, c.name)
		w.Push(t)
		a := mustFetch(t, f1, Request{URL: url})
		if prev, dup := seen[a.Digest]; dup {
			t.Errorf("%s: digest %s equals the one after %s", c.name, a.Digest, prev)
		}
		seen[a.Digest] = c.name
	}

	// A commit that changes nothing keeps the digest.
	before := mustFetch(t, f1, Request{URL: url})
	w.Commit(t, "empty")
	w.Push(t)
	after := mustFetch(t, f1, Request{URL: url})
	if after.Commit == before.Commit || after.Digest != before.Digest {
		t.Errorf("empty commit: digest %s -> %s (commits %s -> %s)", before.Digest, after.Digest, before.Commit, after.Commit)
	}
}

func TestSymlinkAndModes(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"base/app.yaml": "app\n", "run.sh": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(w.Dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Symlink(t, "overlay/app.yaml", "../base/app.yaml")
	w.Symlink(t, "escape", "/etc/passwd")
	w.Commit(t, "links")
	w.Push(t)

	a := mustFetch(t, &Fetcher{CacheDir: t.TempDir()}, Request{URL: url})
	for link, want := range map[string]string{"overlay/app.yaml": "../base/app.yaml", "escape": "/etc/passwd"} {
		got, err := os.Readlink(filepath.Join(a.Dir, link))
		if err != nil || got != want {
			t.Errorf("%s: Readlink = %q, %v; want %q", link, got, err, want)
		}
	}
	info, err := os.Stat(filepath.Join(a.Dir, "run.sh"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v, %v; want 0755", info.Mode(), err)
	}
	info, err = os.Stat(filepath.Join(a.Dir, "base/app.yaml"))
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("base/app.yaml mode = %v, %v; want 0644", info.Mode(), err)
	}
}

func TestKeepTrees(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	f := &Fetcher{CacheDir: t.TempDir(), KeepTrees: 2}
	var arts []*Artifact
	for i := range 4 {
		w.Write(t, map[string]string{"n": string(rune('0'+i)) + "\n"})
		w.Commit(t, "c")
		w.Push(t)
		arts = append(arts, mustFetch(t, f, Request{URL: url}))
	}
	// Reusing the first commit's tree (re-created) makes it the newest.
	old := mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: arts[0].Commit}})

	trees := map[string]bool{}
	ents, err := os.ReadDir(filepath.Dir(arts[0].Dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			trees[e.Name()] = true
		} else if name, ok := strings.CutSuffix(e.Name(), digestSuffix); ok {
			trees[name+digestSuffix] = true
		}
	}
	want := map[string]bool{
		old.Commit: true, old.Commit + digestSuffix: true,
		arts[3].Commit: true, arts[3].Commit + digestSuffix: true,
	}
	if len(trees) != len(want) {
		t.Errorf("trees dir holds %v, want %v", trees, want)
	}
	for n := range want {
		if !trees[n] {
			t.Errorf("%s missing; trees dir holds %v", n, trees)
		}
	}
}

func TestConcurrentFetch(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"f": "x\n"})
	sha := w.Commit(t, "c")
	w.Tag(t, "v1.0.0")
	w.Push(t)

	f := &Fetcher{CacheDir: t.TempDir()}
	refs := []Ref{{}, {Tag: "v1.0.0"}, {Commit: sha}, {SemVer: "^1"}}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	arts := make(chan *Artifact, 12)
	for i := range 12 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			a, err := f.Fetch(ctx, Request{URL: url, Ref: refs[i%len(refs)]})
			if err != nil {
				errs <- err
				return
			}
			arts <- a
		})
	}
	wg.Wait()
	close(errs)
	close(arts)
	for err := range errs {
		t.Error(err)
	}
	var digest string
	for a := range arts {
		if a.Commit != sha || readFile(t, a.Dir, "f") != "x\n" {
			t.Errorf("artifact %+v", a)
		}
		if digest == "" {
			digest = a.Digest
		} else if a.Digest != digest {
			t.Errorf("digests differ: %s vs %s", a.Digest, digest)
		}
	}
}

func TestFetchContext(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"f": "x"})
	w.Commit(t, "c")
	w.Push(t)

	f := &Fetcher{CacheDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Fetch(ctx, Request{URL: url}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}

	// A fetch waiting for the repository's lock gives up with its context.
	unlock, err := f.lock(context.Background(), mustEndpoint(t, url).key)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.Fetch(ctx, Request{URL: url}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("locked: err = %v, want context.DeadlineExceeded", err)
	}
}

func mustEndpoint(t *testing.T, url string) *endpoint {
	t.Helper()
	e, err := parseEndpoint(url)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		raw, display, key string
	}{
		{"https://github.com/org/repo.git", "https://github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"HTTPS://GitHub.com:443/org/repo.git/", "https://GitHub.com:443/org/repo.git/", "https://github.com/org/repo.git"},
		{"http://127.0.0.1:8080/r.git", "http://127.0.0.1:8080/r.git", "http://127.0.0.1:8080/r.git"},
		{"ssh://git@github.com:22/org/repo.git", "ssh://github.com:22/org/repo.git", "ssh://github.com/org/repo.git"},
		{"git@github.com:org/repo.git", "github.com:org/repo.git", "ssh://github.com/org/repo.git"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			e := mustEndpoint(t, tc.raw)
			if e.display != tc.display || e.key != tc.key {
				t.Errorf("display %q key %q, want %q %q", e.display, e.key, tc.display, tc.key)
			}
		})
	}
	if mustEndpoint(t, "git@github.com:org/repo.git").cacheKey() != mustEndpoint(t, "ssh://git@github.com/org/repo.git").cacheKey() {
		t.Error("scp-like and ssh:// forms of one repository use different caches")
	}
}

// TestFetchErrorsHideCredentials: a host (or a proxy) that quotes the request back —
// the Authorization header, its decoded value, the URL — in an error answer does not
// bring the credentials into the fetch error, in any encoding, whatever the status.
func TestFetchErrorsHideCredentials(t *testing.T) {
	const user, password, token = "alice", "s3cr3t/pa55+w0rd", "tok-9c2e7f01aa5d"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The status to answer is the path's first segment: /401/r.git/info/refs.
		status, err := strconv.Atoi(strings.Split(r.URL.Path, "/")[1])
		if err != nil {
			status = http.StatusBadRequest
		}
		auth := r.Header.Get("Authorization")
		w.WriteHeader(status)
		fmt.Fprintf(w, "refused %s %s\nAuthorization: %s\nyou sent %q, decoded %s, escaped %s, again %s\n",
			r.Method, r.URL, auth, auth, decodeBasic(auth), url.QueryEscape(decodeBasic(auth)), strings.Repeat("x", 64<<10))
	}))
	defer echo.Close()
	secrets := []string{password, token, basic, url.QueryEscape(password), base64.StdEncoding.EncodeToString([]byte(password))}
	for _, auth := range []*Auth{{Username: user, Password: password}, {BearerToken: token}} {
		for _, status := range []int{401, 403, 404, 500} {
			t.Run(fmt.Sprintf("%d %v", status, auth.isBasic()), func(t *testing.T) {
				_, err := fetch(t, &Fetcher{CacheDir: t.TempDir()}, Request{URL: fmt.Sprintf("%s/%d/r.git", echo.URL, status), Auth: auth})
				if err == nil {
					t.Fatal("fetch succeeded")
				}
				msg := err.Error()
				for _, s := range secrets {
					if strings.Contains(msg, s) {
						t.Errorf("error holds %q: %s", s, msg)
					}
				}
				if !strings.Contains(msg, echo.URL) {
					t.Errorf("error does not name the repository: %s", msg)
				}
				if len(msg) > maxErrorText+512 {
					t.Errorf("error is %d bytes, over the bound %d", len(msg), maxErrorText)
				}
			})
		}
	}
}

func decodeBasic(h string) string {
	b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	return string(b)
}

func TestAuthRedactor(t *testing.T) {
	key, _ := newSSHKey(t)
	line := strings.Split(string(key), "\n")[1]
	tests := []struct {
		name   string
		auth   *Auth
		text   string
		secret string
	}{
		{"basic password", &Auth{Username: "bob", Password: "s3cr3t"}, `Get "https://host/r.git": s3cr3t refused`, "s3cr3t"},
		{"basic header value", &Auth{Username: "bob", Password: "s3cr3t"}, "got " + base64.StdEncoding.EncodeToString([]byte("bob:s3cr3t")), base64.StdEncoding.EncodeToString([]byte("bob:s3cr3t"))},
		{"bearer", &Auth{BearerToken: "tok-1"}, "token tok-1 refused", "tok-1"},
		{"ssh key line", &Auth{SSHPrivateKey: key}, "key " + line, line},
		{"no auth, URL userinfo", nil, "https://bob:s3cr3t@host/r.git", "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.auth.Redactor().String(tt.text); strings.Contains(got, tt.secret) {
				t.Errorf("Redactor().String(%q) = %q", tt.text, got)
			}
		})
	}
}

// TestFetchDeletedBranch: a branch deleted on the remote is not found, however often
// it is asked for, even though the cache still holds what it pointed at.
func TestFetchDeletedBranch(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"f": "x"})
	w.Commit(t, "c")
	w.Push(t)
	w.Git(t, "branch", "release")
	w.Push(t, "release")
	f := &Fetcher{CacheDir: t.TempDir()}
	mustFetch(t, f, Request{URL: url, Ref: Ref{Branch: "release"}})
	w.Git(t, "push", "-q", "origin", "--delete", "release")
	for i := range 3 {
		if a, err := fetch(t, f, Request{URL: url, Ref: Ref{Branch: "release"}}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("fetch %d of the deleted branch: %+v, %v; want ErrNotFound", i+1, a, err)
		}
		mustFetch(t, f, Request{URL: url, Ref: Ref{Branch: "main"}})
	}
}
