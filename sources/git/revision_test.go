package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/internal/gittest"
)

func readAll(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := fs.Lstat(fsys, p)
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := fs.ReadLink(fsys, p)
			got[p] = "-> " + target
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		got[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOpenRevision(t *testing.T) {
	_, w, _ := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"apps/a.yaml": "one\n", "README": "r\n"})
	w.Symlink(t, "apps/b.yaml", "a.yaml")
	first := w.Commit(t, "first")
	w.Tag(t, "v1")
	w.Write(t, map[string]string{"apps/a.yaml": "two\n", "apps/c.yaml": "c\n"})
	second := w.Commit(t, "second")
	// Uncommitted work is not part of any revision.
	w.Write(t, map[string]string{"apps/a.yaml": "dirty\n", "apps/d.yaml": "d\n"})

	firstTree := map[string]string{"README": "r\n", "apps/a.yaml": "one\n", "apps/b.yaml": "-> a.yaml"}
	secondTree := map[string]string{"README": "r\n", "apps/a.yaml": "two\n", "apps/b.yaml": "-> a.yaml", "apps/c.yaml": "c\n"}
	tests := []struct {
		dir, rev   string
		wantCommit string
		want       map[string]string
	}{
		{w.Dir, "HEAD", second, secondTree},
		{w.Dir, "main", second, secondTree},
		{w.Dir, "HEAD~1", first, firstTree},
		{w.Dir, "v1", first, firstTree}, // annotated tag, peeled
		{w.Dir, first, first, firstTree},
		{w.Dir, first[:10], first, firstTree},
		{filepath.Join(w.Dir, "apps"), "HEAD~1", first, firstTree}, // inside the work tree
	}
	for _, tt := range tests {
		fsys, commit, err := OpenRevision(tt.dir, tt.rev)
		if err != nil {
			t.Fatalf("OpenRevision(%s, %s): %v", tt.dir, tt.rev, err)
		}
		if commit != tt.wantCommit {
			t.Errorf("%s: commit %s, want %s", tt.rev, commit, tt.wantCommit)
		}
		if got := readAll(t, fsys); !equalMaps(got, tt.want) {
			t.Errorf("%s: tree %v, want %v", tt.rev, got, tt.want)
		}
		// Links inside the tree are followed by Open.
		if b, err := fs.ReadFile(fsys, "apps/b.yaml"); err != nil || string(b) != tt.want["apps/a.yaml"] {
			t.Errorf("%s: reading through the link: %q, %v", tt.rev, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(w.Dir, "apps/a.yaml")); string(b) != "dirty\n" {
		t.Errorf("the work tree was touched: %q", b)
	}

	for _, rev := range []string{"nope", "HEAD~5", strings.Repeat("0", 40)} {
		if _, _, err := OpenRevision(w.Dir, rev); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), rev) {
			t.Errorf("OpenRevision(%q): %v, want not found naming the revision", rev, err)
		}
	}
	if _, _, err := OpenRevision(t.TempDir(), "HEAD"); err == nil || !strings.Contains(err.Error(), "not a Git repository") {
		t.Errorf("outside a repository: %v", err)
	}
}

// TestOpenRevisionIsStrict: only forms that name a commit are resolved; a path, a tree,
// a blob, a range or a reflog entry is an error saying so, never HEAD or another commit
// by approximation.
func TestOpenRevisionIsStrict(t *testing.T) {
	_, w, _ := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"apps/a.yaml": "one\n"})
	first := w.Commit(t, "first")
	w.Tag(t, "v1")
	w.Git(t, "checkout", "-q", "-b", "side")
	w.Write(t, map[string]string{"side.yaml": "s\n"})
	side := w.Commit(t, "side")
	w.Git(t, "checkout", "-q", "main")
	w.Write(t, map[string]string{"apps/a.yaml": "two\n"})
	second := w.Commit(t, "second")
	w.Git(t, "merge", "-q", "--no-ff", "-m", "merge", "side")
	merge := w.Head(t)
	w.Git(t, "branch", "dup", first)
	w.LightweightTag(t, "dup") // a tag "dup" at the merge, a branch "dup" at first
	tree := strings.TrimSpace(w.Git(t, "rev-parse", "HEAD^{tree}"))
	blob := strings.TrimSpace(w.Git(t, "rev-parse", "HEAD:apps/a.yaml"))

	for rev, want := range map[string]string{
		"HEAD": merge, "main": merge, "refs/heads/main": merge, "heads/main": merge,
		"HEAD^": second, "HEAD^1": second, "HEAD^2": side, "HEAD~": second, "HEAD~2": first, "main~1^": first,
		"HEAD^0": merge, "HEAD^{commit}": merge, "HEAD^{}": merge, "v1": first, "v1^{commit}": first, "refs/tags/v1": first,
		merge: merge, merge[:7]: merge, side: side,
	} {
		if _, commit, err := OpenRevision(w.Dir, rev); err != nil || commit != want {
			t.Errorf("OpenRevision(%q) = %s, %v; want %s", rev, commit, err, want)
		}
	}
	tests := []struct {
		rev, want string
		form      bool // refused for its form alone, by CheckRevision too
	}{
		{"HEAD:apps/a.yaml", "REV:path names a file or a tree", true},
		{"HEAD:apps", "REV:path names a file or a tree", true},
		{"main:", "REV:path", true},
		{":apps/a.yaml", "REV:path", true},
		{":0:apps/a.yaml", "REV:path", true},
		{":/second", "REV:path", true},
		{"HEAD^{blob}", "^{blob} names a blob, not a commit", true},
		{"HEAD^{tree}", "^{tree} names a tree, not a commit", true},
		{"v1^{tag}", "^{tag} names a tag", true},
		{"HEAD^{/second}", "commit message search", true},
		{"HEAD@{1}", "reflog", true},
		{"main@{upstream}", "reflog", true},
		{"HEAD~1..HEAD", "range", true},
		{"main...side", "range", true},
		{"HEAD~x", "only ~N, ^N and ^{commit}", true},
		{"HEAD~99999999", "ancestry step over", true},
		{"-main", "not a valid branch, tag or commit name", true},
		{"ma in", "not a valid branch, tag or commit name", true},
		{tree, "is a tree, not a commit", false},
		{blob, "is a blob, not a commit", false},
		{"dup", "ambiguous", false},
		{"HEAD~9", "history ends", false},
		{"HEAD^3", "has 2 parents", false},
		{"", "no revision given", true},
	}
	for _, tt := range tests {
		_, commit, err := OpenRevision(w.Dir, tt.rev)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenRevision(%q) = %s, %v; want an error saying %q", tt.rev, commit, err, tt.want)
			continue
		}
		if tt.rev != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.rev)) {
			t.Errorf("OpenRevision(%q): %v does not name the revision", tt.rev, err)
		}
		if err := CheckRevision(tt.rev); (err != nil) != tt.form {
			t.Errorf("CheckRevision(%q) = %v, want an error: %v", tt.rev, err, tt.form)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestOpenRevisionRefusesEscapingSymlinks(t *testing.T) {
	tests := []struct {
		name  string
		links map[string]string // name → target
	}{
		{"parent of the root", map[string]string{"apps/up": "../../etc"}},
		{"absolute", map[string]string{"apps/abs": "/etc/passwd"}},
		// Each link stays inside on its own; followed, the second climbs out.
		{"through another link", map[string]string{"d/l": "..", "d/m": "l/.."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, w, _ := newRepo(t, gittest.Options{})
			w.Write(t, map[string]string{"apps/a.yaml": "a\n", "d/x": "x\n"})
			for name, target := range tt.links {
				w.Symlink(t, name, target)
			}
			w.Commit(t, "links")
			_, _, err := OpenRevision(w.Dir, "HEAD")
			if err == nil || !strings.Contains(err.Error(), "points outside the tree") {
				t.Fatalf("got %v, want a refusal", err)
			}
		})
	}
	// Links that stay inside, also through other links, are fine.
	_, w, _ := newRepo(t, gittest.Options{})
	w.Write(t, map[string]string{"base/a.yaml": "a\n"})
	w.Symlink(t, "d/l", "..")
	w.Symlink(t, "d/m", "l/base/a.yaml")
	w.Symlink(t, "dangling", "missing/file")
	w.Commit(t, "links")
	fsys, _, err := OpenRevision(w.Dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "d/m"); err != nil || string(b) != "a\n" {
		t.Errorf("d/m: %q %v", b, err)
	}
}

func TestOpenRevisionOfFetchedRepository(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{Username: "u", Password: "p"})
	w.Write(t, map[string]string{"apps/a.yaml": "one\n"})
	first := w.Commit(t, "first")
	w.Write(t, map[string]string{"apps/a.yaml": "two\n"})
	second := w.Commit(t, "second")
	w.Push(t, "main")

	f := &Fetcher{CacheDir: t.TempDir()}
	auth := &Auth{Username: "u", Password: "p"}
	head := mustFetch(t, f, Request{URL: url, Ref: Ref{Branch: "main"}, Auth: auth})
	base := mustFetch(t, f, Request{URL: url, Ref: Ref{Commit: first}, Auth: auth})
	dir, err := f.RepoDir(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ commit, want string }{{head.Commit, "two\n"}, {base.Commit, "one\n"}} {
		fsys, commit, err := OpenRevision(dir, tt.commit)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := fs.ReadFile(fsys, "apps/a.yaml"); string(b) != tt.want || commit != tt.commit {
			t.Errorf("%s: %q at %s", tt.commit, b, commit)
		}
	}
	if head.Commit != second {
		t.Errorf("head %s, want %s", head.Commit, second)
	}
	if _, err := (&Fetcher{CacheDir: t.TempDir()}).RepoDir("https://u:secret@host/repo.git"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("RepoDir with a password in the URL: %v", err)
	}
}

// TestRemoteRevisions: a remote revision is a branch, a tag or a commit, fetched and read
// from the cache; other forms are refused before anything is fetched.
func TestRemoteRevisions(t *testing.T) {
	_, w, url := newRepo(t, gittest.Options{Username: "u", Password: "p"})
	w.Write(t, map[string]string{"a.yaml": "one\n"})
	first := w.Commit(t, "first")
	w.Tag(t, "v1")
	w.Write(t, map[string]string{"a.yaml": "two\n"})
	second := w.Commit(t, "second")
	w.Git(t, "branch", "feature", first)
	w.Push(t, "main", "feature", "v1")

	r := RemoteRevisions{Fetcher: &Fetcher{CacheDir: t.TempDir()}, URL: url, Auth: &Auth{Username: "u", Password: "p"}}
	ctx := context.Background()
	for rev, want := range map[string]string{"main": second, "feature": first, "v1": first, "refs/heads/main": second, "refs/tags/v1": first, first: first, second[:8]: second} {
		fsys, commit, err := r.Tree(ctx, rev)
		if err != nil || commit != want {
			t.Errorf("Tree(%q) = %s, %v; want %s", rev, commit, err, want)
			continue
		}
		wantFile := map[string]string{first: "one\n", second: "two\n"}[want]
		if b, _ := fs.ReadFile(fsys, "a.yaml"); string(b) != wantFile {
			t.Errorf("Tree(%q): a.yaml %q, want %q", rev, b, wantFile)
		}
	}
	for rev, want := range map[string]string{
		"main:a.yaml": "REV:path", "main^{tree}": "names a tree", "main~1": "a remote revision is a branch, tag or commit",
		"HEAD": "a remote revision is a branch, tag or commit", "nope": "neither a branch nor a tag",
	} {
		_, _, err := r.Tree(ctx, rev)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), rev) {
			t.Errorf("Tree(%q): %v, want an error naming it and saying %q", rev, err, want)
		}
	}
}
