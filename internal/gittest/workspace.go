package gittest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// epoch is the base of commit and tag dates; commit n of a history is dated epoch+n
// minutes so identical histories get identical SHAs.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Workspace is a working clone of a server repository, for making commits.
type Workspace struct {
	// Dir is the working tree.
	Dir string

	env []string
}

// Workspace clones repo (a name given to CreateRepo) into a temporary directory, with
// the server's credentials configured. An empty repository gets branch main.
func (s *Server) Workspace(t testing.TB, repo string) *Workspace {
	t.Helper()
	return clone(t, s.env(), s.RepoURL(repo), s.authHeader())
}

// Clone clones any remote (a Gitea repository, say) into a temporary workspace; header,
// when set, goes with every request ("Authorization: Basic ..."). An empty repository
// gets branch main.
func Clone(t testing.TB, url, header string) *Workspace {
	t.Helper()
	return clone(t, gitEnv(t.TempDir()), url, header)
}

func clone(t testing.TB, env []string, url, header string) *Workspace {
	t.Helper()
	w := &Workspace{Dir: filepath.Join(t.TempDir(), "work"), env: env}
	var cfg []string
	if header != "" {
		cfg = append(cfg, "-c", "http.extraHeader="+header)
	}
	runGit(t, w.env, "", append(cfg, "clone", "--quiet", url, w.Dir)...)
	if header != "" {
		// Kept in the clone's own config so later pushes authenticate too.
		runGit(t, w.env, w.Dir, "config", "http.extraHeader", header)
	}
	if !w.hasCommits(t) {
		runGit(t, w.env, w.Dir, "symbolic-ref", "HEAD", "refs/heads/main")
	}
	return w
}

// authHeader is sent up front, so the workspace works whether or not the server
// challenges.
func (s *Server) authHeader() string {
	switch {
	case s.opts.Username != "":
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.Username+":"+s.opts.Password))
	case s.opts.BearerToken != "":
		return "Authorization: Bearer " + s.opts.BearerToken
	}
	return ""
}

// Write creates or overwrites files (parents created); an empty value deletes the file.
func (w *Workspace) Write(t testing.TB, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := w.path(t, name)
		if content == "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("gittest: delete %s: %v", name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("gittest: %v", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatalf("gittest: write %s: %v", name, err)
		}
	}
}

// Symlink creates (or replaces) the symlink name pointing at target, as given.
func (w *Workspace) Symlink(t testing.TB, name, target string) {
	t.Helper()
	p := w.path(t, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatalf("gittest: %v", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("gittest: replace %s: %v", name, err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatalf("gittest: symlink %s: %v", name, err)
	}
}

// Commit stages everything and commits (empty commits allowed), returning the SHA.
// Author, committer and dates are fixed by the commit's position in history.
func (w *Workspace) Commit(t testing.TB, msg string) string {
	t.Helper()
	runGit(t, w.env, w.Dir, "add", "-A")
	n := 0
	if w.hasCommits(t) {
		n, _ = strconv.Atoi(strings.TrimSpace(runGit(t, w.env, w.Dir, "rev-list", "--count", "HEAD")))
	}
	date := epoch.Add(time.Duration(n+1) * time.Minute).Format(time.RFC3339)
	env := append(w.env[:len(w.env):len(w.env)], "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	runGit(t, env, w.Dir, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", msg)
	return w.Head(t)
}

// Head returns the SHA of HEAD.
func (w *Workspace) Head(t testing.TB) string {
	t.Helper()
	return strings.TrimSpace(runGit(t, w.env, w.Dir, "rev-parse", "HEAD"))
}

// Tag creates an annotated tag at HEAD.
func (w *Workspace) Tag(t testing.TB, name string) {
	t.Helper()
	runGit(t, w.tagEnv(), w.Dir, "tag", "-a", "-m", name, name)
}

// LightweightTag creates a lightweight tag (a plain ref) at HEAD.
func (w *Workspace) LightweightTag(t testing.TB, name string) {
	t.Helper()
	runGit(t, w.env, w.Dir, "tag", name)
}

func (w *Workspace) tagEnv() []string {
	date := epoch.Format(time.RFC3339)
	return append(w.env[:len(w.env):len(w.env)], "GIT_COMMITTER_DATE="+date)
}

// Push pushes refs to origin; without refs, the current branch and all tags. A ref
// prefixed with + is force-pushed.
func (w *Workspace) Push(t testing.TB, refs ...string) {
	t.Helper()
	args := []string{"push", "--quiet", "origin"}
	if len(refs) == 0 {
		branch := strings.TrimSpace(runGit(t, w.env, w.Dir, "symbolic-ref", "--short", "HEAD"))
		args = append(args, branch, "--tags")
	}
	runGit(t, w.env, w.Dir, append(args, refs...)...)
}

// Git runs any git command in the workspace and returns its stdout.
func (w *Workspace) Git(t testing.TB, args ...string) string {
	t.Helper()
	return runGit(t, w.env, w.Dir, args...)
}

func (w *Workspace) hasCommits(t testing.TB) bool {
	t.Helper()
	_, err := gitOutput(w.env, w.Dir, "rev-parse", "--verify", "--quiet", "HEAD")
	return err == nil
}

func (w *Workspace) path(t testing.TB, name string) string {
	t.Helper()
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || filepath.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || clean == ".git" || strings.HasPrefix(clean, ".git/") {
		t.Fatalf("gittest: bad workspace path %q", name)
	}
	return filepath.Join(w.Dir, filepath.FromSlash(clean))
}

// gitEnv isolates git from the host's and user's configuration.
func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=gittest",
		"GIT_AUTHOR_EMAIL=gittest@example.invalid",
		"GIT_COMMITTER_NAME=gittest",
		"GIT_COMMITTER_EMAIL=gittest@example.invalid",
		"LC_ALL=C",
	}
}

func runGit(t testing.TB, env []string, dir string, args ...string) string {
	t.Helper()
	out, err := gitOutput(env, dir, args...)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return out
}

// gitOutput runs git with a timeout; the error carries the command and git's stderr.
func gitOutput(env []string, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", CommandTimeout)
		}
		return stdout.String(), fmt.Errorf("git %s (in %s): %v: %s", strings.Join(redactArgs(args), " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// redactArgs hides credentials passed with -c http.extraHeader.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, "Authorization:") {
			a = a[:strings.Index(a, "Authorization:")] + "Authorization: <redacted>"
		}
		out[i] = a
	}
	return out
}

// ReadTree is every file under root as Write takes them: slash paths relative to root,
// each under prefix (e.g. "apps/"), for pushing an example repository.
func ReadTree(t testing.TB, root, prefix string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files[prefix+filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
