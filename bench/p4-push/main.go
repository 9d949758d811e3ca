package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/internal/stack"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	pushes := flag.Int("pushes", 20, "timed pushes")
	flag.Parse()
	log.SetLogger(logr.Discard())
	ctx := context.Background()

	s, err := stack.Start(ctx, *binary)
	if err != nil {
		benchutil.Fatal(err)
	}
	defer s.Stop()
	cloneURL, err := s.Gitea.CreateRepo(ctx, "agents")
	if err != nil {
		benchutil.Fatal(err)
	}
	work, err := os.MkdirTemp("", "trustsync-p4-")
	if err != nil {
		benchutil.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := copyDir("examples/single-agent", filepath.Join(work, "apps")); err != nil {
		benchutil.Fatal(err)
	}
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		benchutil.Fatal(err)
	}
	first, err := repo.Commit("first")
	if err != nil {
		benchutil.Fatal(err)
	}
	if err := repo.Push(); err != nil {
		benchutil.Fatal(err)
	}
	if err := s.Sync(ctx, "bench", "agents", cloneURL, "./apps"); err != nil {
		benchutil.Fatal(err)
	}
	const statusContext = "trustsync/bench/agents"
	wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := s.WaitForStatus(wait, "agents", first, statusContext, "success", 20*time.Millisecond); err != nil {
		benchutil.Fatal(err)
	}
	cancel()

	tool := filepath.Join(work, "apps", "weather-tool.yaml")
	original, err := os.ReadFile(tool)
	if err != nil {
		benchutil.Fatal(err)
	}
	var times []time.Duration
	for i := 1; i <= *pushes; i++ {
		// One line changes: the tool's image tag.
		changed := strings.Replace(string(original), "weather-mcp:0.9.2", fmt.Sprintf("weather-mcp:0.9.%d", 100+i), 1)
		if err := os.WriteFile(tool, []byte(changed), 0o644); err != nil {
			benchutil.Fatal(err)
		}
		sha, err := repo.Commit(fmt.Sprintf("push %d", i))
		if err != nil {
			benchutil.Fatal(err)
		}
		start := time.Now()
		if err := repo.Push(); err != nil {
			benchutil.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, time.Minute)
		err = s.WaitForStatus(wait, "agents", sha, statusContext, "success", 10*time.Millisecond)
		cancel()
		if err != nil {
			benchutil.Fatal(err)
		}
		times = append(times, time.Since(start))
		fmt.Printf("push %2d: %s ms\n", i, benchutil.Ms(times[len(times)-1]))
	}
	slices.Sort(times)
	p := func(q float64) time.Duration { return times[int(q*float64(len(times)-1)+0.5)] }
	benchutil.Result("P4", "pushes", fmt.Sprint(len(times)), "p50_ms", benchutil.Ms(p(0.5)), "p90_ms", benchutil.Ms(p(0.9)), "max_ms", benchutil.Ms(times[len(times)-1]))
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
