package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/internal/stack"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	heapProfile := flag.String("heapprofile", "", "write the controller's heap profile, once synced, here")
	flag.Parse()
	log.SetLogger(logr.Discard())
	ctx := context.Background()

	s, err := stack.StartWith(ctx, *binary, stack.Options{Pprof: *heapProfile != ""})
	if err != nil {
		benchutil.Fatal(err)
	}
	defer s.Stop()
	time.Sleep(3 * time.Second) // the controller starts its caches before it is idle
	idle, _, err := s.Memory()
	if err != nil {
		benchutil.Fatal(err)
	}
	cloneURL, err := s.Gitea.CreateRepo(ctx, "agents")
	if err != nil {
		benchutil.Fatal(err)
	}
	work, err := os.MkdirTemp("", "trustsync-p7-")
	if err != nil {
		benchutil.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := repogen.Write(work, repogen.Options{Agents: *agents, Namespaces: 10}); err != nil {
		benchutil.Fatal(err)
	}
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		benchutil.Fatal(err)
	}
	sha, err := repo.Commit("1,000 agents")
	if err != nil {
		benchutil.Fatal(err)
	}
	if err := repo.Push(); err != nil {
		benchutil.Fatal(err)
	}
	start := time.Now()
	if err := s.Sync(ctx, "bench", "agents", cloneURL, "./"); err != nil {
		benchutil.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := s.WaitForStatus(wait, "agents", sha, "trustsync/bench/agents", "success", 200*time.Millisecond); err != nil {
		benchutil.Fatal(err)
	}
	synced := time.Since(start)
	time.Sleep(5 * time.Second) // let the controller settle (GC, informers)
	rss, peak, err := s.Memory()
	if err != nil {
		benchutil.Fatal(err)
	}
	if *heapProfile != "" {
		if err := s.HeapProfile(ctx, *heapProfile); err != nil {
			benchutil.Fatal(err)
		}
	}
	fmt.Printf("synced %d agents in %.1f s; controller RSS %.0f MiB (idle %.0f MiB, peak %.0f MiB) on %s/%s\n",
		*agents, synced.Seconds(), rss, idle, peak, runtime.GOOS, runtime.GOARCH)
	benchutil.Result("P7", "agents", fmt.Sprint(*agents), "sync_s", fmt.Sprintf("%.1f", synced.Seconds()),
		"rss_mb", fmt.Sprintf("%.0f", rss), "peak_mb", fmt.Sprintf("%.0f", peak), "idle_mb", fmt.Sprintf("%.0f", idle))
}
