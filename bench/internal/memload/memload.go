package memload

import (
	"context"
	"fmt"
	"os"
	"time"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/internal/stack"
)

// Options are one measurement.
type Options struct {
	Binary     string // the trustsync binary
	Agents     int
	Namespaces int
	// Limits raise the Platform's render limits for repositories past their defaults.
	Limits gitopsv1.Limits
	// HeapProfile, when set, is where the controller's heap profile is written once
	// synced.
	HeapProfile string
}

// Result is what the controller held, in MiB, and how long the sync took.
type Result struct {
	Sync            time.Duration
	RSS, Peak, Idle float64
}

// Run starts a stack, pushes the repository, waits for its commit status and reads
// the controller's memory five seconds later.
func Run(ctx context.Context, o Options) (Result, error) {
	s, err := stack.StartWith(ctx, o.Binary, stack.Options{Pprof: o.HeapProfile != "", Limits: o.Limits})
	if err != nil {
		return Result{}, err
	}
	defer s.Stop()
	time.Sleep(3 * time.Second) // the controller starts its caches before it is idle
	var r Result
	if r.Idle, _, err = s.Memory(); err != nil {
		return r, err
	}
	cloneURL, err := s.Gitea.CreateRepo(ctx, "agents")
	if err != nil {
		return r, err
	}
	work, err := os.MkdirTemp("", "trustsync-memload-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	if err := repogen.Write(work, repogen.Options{Agents: o.Agents, Namespaces: o.Namespaces}); err != nil {
		return r, err
	}
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		return r, err
	}
	sha, err := repo.Commit(fmt.Sprintf("%d agents", o.Agents))
	if err != nil {
		return r, err
	}
	if err := repo.Push(); err != nil {
		return r, err
	}
	start := time.Now()
	if err := s.Sync(ctx, "bench", "agents", cloneURL, "./"); err != nil {
		return r, err
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := s.WaitForStatus(wait, "agents", sha, "trustsync/bench/agents", "success", 200*time.Millisecond); err != nil {
		return r, err
	}
	r.Sync = time.Since(start)
	time.Sleep(5 * time.Second) // let the controller settle (GC, informers)
	if r.RSS, r.Peak, err = s.Memory(); err != nil {
		return r, err
	}
	if o.HeapProfile != "" {
		if err := s.HeapProfile(ctx, o.HeapProfile); err != nil {
			return r, err
		}
	}
	return r, nil
}
