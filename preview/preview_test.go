package preview_test

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/sources/git"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type repo string

func (r repo) Tree(_ context.Context, rev string) (fs.FS, string, error) {
	return git.OpenRevision(string(r), rev)
}

// exampleRepo is a Git repository holding examples/multi-tenant on main and, on branch
// change, the result of edit.
func exampleRepo(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command("cp", "-r", "../examples/multi-tenant", filepath.Join(dir, "multi-tenant")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	gitRun("init", "-q", "-b", "main")
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "two teams")
	gitRun("checkout", "-q", "-b", "change")
	edit(dir)
	gitRun("add", "-A")
	gitRun("commit", "-q", "-m", "the change")
	return dir
}

func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), old, new, 1)
	if s == string(data) {
		t.Fatalf("%s: %q not found", file, old)
	}
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

var commitHash = regexp.MustCompile(`\([0-9a-f]{12}\)`)

// TestPreviewGolden: the Markdown a reviewer reads for changes to the multi-tenant
// example, against golden files (go test ./preview -update rewrites them).
func TestPreviewGolden(t *testing.T) {
	p, err := gitopsv1.LoadPlatform("../examples/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const teamA = "multi-tenant/team-a/policies.yaml"
	const rule = "        allow if regex.match(`^spiffe://[^/]+/ns/team-a/sa/[^/]+$`, input.identity.client_id)\n"
	tests := []struct {
		name   string
		edit   func(t *testing.T, dir string)
		failed string // the reason it fails, "" when it passes
	}{
		{
			name: "callback",
			edit: func(t *testing.T, dir string) {
				replaceIn(t, filepath.Join(dir, teamA), rule, rule+"\n        # The planner calls back with results.\n        allow if regex.match(`^spiffe://[^/]+/ns/team-b/sa/planner-agent$`, input.identity.client_id)\n")
			},
			failed: "new cross-namespace access: team-b/planner-agent may now call team-a/research-agent",
		},
		{
			name: "strict-and-locked-down",
			edit: func(t *testing.T, dir string) {
				// The planner stops admitting team-a and its agent goes permissive.
				replaceIn(t, filepath.Join(dir, "multi-tenant/team-b/policies.yaml"),
					"        allow if regex.match(`^spiffe://[^/]+/ns/team-a/sa/research-agent$`, input.identity.client_id)\n", "")
				replaceIn(t, filepath.Join(dir, "multi-tenant/team-b/planner-agent.yaml"), "mtlsMode: strict", "mtlsMode: permissive")
			},
			failed: "1 Rego test failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := exampleRepo(t, func(dir string) { tt.edit(t, dir) })
			rep, err := preview.Run(context.Background(), repo(dir), preview.Options{Path: "multi-tenant", Base: "main", Head: "change", Platform: p})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Failed(); got != tt.failed {
				t.Errorf("failed %q, want %q", got, tt.failed)
			}
			var md bytes.Buffer
			if err := rep.Markdown(&md); err != nil {
				t.Fatal(err)
			}
			got := commitHash.ReplaceAll(md.Bytes(), []byte("(<commit>)"))
			golden := filepath.Join("testdata", tt.name+".md")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("markdown differs from %s (go test ./preview -update):\n%s", golden, got)
			}
		})
	}
}
