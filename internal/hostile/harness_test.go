package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/stack"
)

// Case is one hostile input and what trustsync must do with it.
type Case struct {
	Name string
	// Files of the tree, by slash path; written under {tree}.
	Files map[string]string
	// Links are symbolic links of the tree: path → target.
	Links map[string]string
	// Commits, when set, make {tree} a git repository: each map is one commit's
	// changes (an empty value deletes the file), applied after Files and Links.
	Commits []map[string]string
	// Args of the trustsync command; {tree}, {platform}, {canary} and {canaryURL} are
	// replaced.
	Args []string
	// Platform, when set, is the body of a Platform file (after its apiVersion and kind)
	// written outside the tree, at {platform}, and passed with --platform.
	Platform string
	// Stdin, when set, is the command's standard input.
	Stdin string
	// Env adds variables to the command's environment.
	Env []string
	// Exit is the exit code wanted; 0 means any non-zero code.
	Exit int
	// Stderr holds substrings the message must contain (the culprit: file, object, field,
	// the limit).
	Stderr []string
	// Stdout, for a refusal that reports on stdout (a preview's report, exit 1), holds
	// substrings the report must contain; stdout must be empty on any other refusal.
	Stdout []string
	// NotInOutput holds strings that must appear in neither stdout nor stderr (secrets).
	NotInOutput []string
	// Succeeds marks an input that must be accepted (exit 0); stdout is then allowed.
	Succeeds bool
	// MaxWall and MaxRSSMiB bound the run; 60 s and 768 MiB when zero.
	MaxWall   time.Duration
	MaxRSSMiB int64
	// MaxStderr bounds the message's length in bytes; 16 KiB when zero.
	MaxStderr int
}

// binary is the trustsync binary under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "hostile-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = stack.BuildBinary(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// canary is a loopback TCP listener that counts every connection it is offered. It
// answers HTTP requests with a body that must never appear in any output.
type canary struct {
	ln    net.Listener
	conns atomic.Int64
}

// canaryBody is what the canary serves; finding it in a render means a fetch happened.
const canaryBody = "CANARY-SECRET-0d1c"

func newCanary(t *testing.T) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 4096)
				_, _ = conn.Read(buf)
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(canaryBody), canaryBody)
			}()
		}
	}()
	return c
}

// fakePrograms are put on PATH in place of every program a build might be tricked into
// running; each records its call.
var fakePrograms = []string{"git", "ssh", "helm", "kubectl", "kustomize", "curl", "wget", "opa", "sh", "bash"}

func fakePath(t *testing.T) (dir, record string) {
	t.Helper()
	dir = t.TempDir()
	record = filepath.Join(dir, "calls.log")
	for _, p := range fakePrograms {
		script := fmt.Sprintf("#!/bin/sh\necho %s \"$@\" >> %s\nexit 1\n", p, record)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, record
}

// writeTree writes the case's files, links and commits under dir; file contents have
// their placeholders replaced.
func writeTree(t *testing.T, dir string, c Case, replace *strings.Replacer) {
	t.Helper()
	write := func(files map[string]string) {
		for name, content := range files {
			content = replace.Replace(content)
			p := filepath.Join(dir, filepath.FromSlash(name))
			if content == "" {
				_ = os.Remove(p)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(c.Files)
	for name, target := range c.Links {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Commits) == 0 {
		return
	}
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.org", "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	for i, changes := range c.Commits {
		write(changes)
		git("add", "-A")
		git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("commit %d", i))
	}
}

// run runs every case as its own subtest, in parallel.
func run(t *testing.T, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			runCase(t, c)
		})
	}
}

func runCase(t *testing.T, c Case) {
	can := newCanary(t)
	bin, record := fakePath(t)
	tree := t.TempDir()
	platform := filepath.Join(t.TempDir(), "platform.yaml")
	if c.Platform != "" {
		doc := "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\n" + c.Platform
		if err := os.WriteFile(platform, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	canaryAddr := can.ln.Addr().String()
	replace := strings.NewReplacer("{tree}", tree, "{platform}", platform, "{canaryURL}", "http://"+canaryAddr, "{canary}", canaryAddr)
	writeTree(t, tree, c, replace)
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = replace.Replace(a)
	}
	if c.Platform != "" {
		args = append(args, "--platform", platform)
	}
	wall := c.MaxWall
	if wall == 0 {
		wall = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wall)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = tree
	proxy := "http://" + canaryAddr
	cmd.Env = append([]string{
		"PATH=" + bin, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "ALL_PROXY=" + proxy, "NO_PROXY=",
		"GIT_SSH_COMMAND=" + filepath.Join(bin, "ssh"),
	}, c.Env...)
	for i, e := range cmd.Env {
		cmd.Env[i] = replace.Replace(e)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(replace.Replace(c.Stdin))
	}
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("still running after %s (killed)\nstderr: %.2000s", wall, stderr.String())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running trustsync: %v", err)
	}
	report := fmt.Sprintf("exit %d after %s\nstdout: %.2000s\nstderr: %.4000s", code, elapsed.Round(time.Millisecond), stdout.String(), stderr.String())

	switch {
	case c.Succeeds && code != 0:
		t.Errorf("want success\n%s", report)
	case !c.Succeeds && code == 0:
		t.Errorf("want a refusal\n%s", report)
	case !c.Succeeds && c.Exit != 0 && code != c.Exit:
		t.Errorf("want exit %d\n%s", c.Exit, report)
	}
	if !c.Succeeds && stdout.Len() > 0 && len(c.Stdout) == 0 {
		t.Errorf("a refusal printed on stdout\n%s", report)
	}
	for _, want := range c.Stdout {
		if !strings.Contains(stdout.String(), replace.Replace(want)) {
			t.Errorf("report lacks %q\n%s", replace.Replace(want), report)
		}
	}
	for _, want := range c.Stderr {
		if !strings.Contains(stderr.String(), replace.Replace(want)) {
			t.Errorf("message lacks %q\n%s", replace.Replace(want), report)
		}
	}
	for _, secret := range append([]string{canaryBody}, c.NotInOutput...) {
		if strings.Contains(stdout.String(), secret) || strings.Contains(stderr.String(), secret) {
			t.Errorf("output holds %q\n%s", secret, report)
		}
	}
	maxStderr := c.MaxStderr
	if maxStderr == 0 {
		maxStderr = 16 << 10
	}
	if stderr.Len() > maxStderr {
		t.Errorf("message is %d bytes, over %d\n%s", stderr.Len(), maxStderr, report)
	}
	if n := can.conns.Load(); n > 0 {
		t.Errorf("%d connections reached the canary\n%s", n, report)
	}
	if calls, err := os.ReadFile(record); err == nil && len(calls) > 0 {
		t.Errorf("programs were run:\n%s\n%s", calls, report)
	}
	maxRSS := c.MaxRSSMiB
	if maxRSS == 0 {
		maxRSS = 768
	}
	if rss := peakRSSMiB(cmd.ProcessState); rss > maxRSS {
		t.Errorf("peak memory %d MiB, over %d MiB\n%s", rss, maxRSS, report)
	}
}

// peakRSSMiB is the child's peak resident memory.
func peakRSSMiB(ps *os.ProcessState) int64 {
	if ps == nil || runtime.GOOS != "linux" {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss / 1024 // kilobytes on Linux
	}
	return 0
}

// TestHarnessCatchesEscapes proves the harness can fail: a program run from the fake PATH
// and a connection to the canary are both seen.
func TestHarnessCatchesEscapes(t *testing.T) {
	can := newCanary(t)
	bin, record := fakePath(t)
	cmd := exec.Command(filepath.Join(bin, "git"), "fetch", "x")
	_ = cmd.Run()
	if calls, _ := os.ReadFile(record); !strings.Contains(string(calls), "git fetch x") {
		t.Errorf("fake git did not record its call: %q", calls)
	}
	conn, err := net.Dial("tcp", can.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for can.conns.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if can.conns.Load() == 0 {
		t.Error("the canary did not count a connection")
	}
}
