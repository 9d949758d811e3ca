package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/engineload"
	"github.com/trustsync/trustsync/bench/internal/memload"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/renderers"
)

// limits admit the largest repository (5,000 agents are 20,000 objects before expansion).
var limits = gitopsv1.Limits{Files: 100000, Objects: 200000}

func main() {
	sizes := flag.String("agents", "100,1000,5000", "repository sizes, in agents")
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	runs := flag.Int("runs", 3, "timed runs of the no-op and of the render at each size")
	flag.Parse()
	log.SetLogger(logr.Discard())
	ctx := context.Background()

	var agents, p1, p3, p7 []float64
	var kv []string
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			benchutil.Fatal(fmt.Errorf("bad size %q", f))
		}
		namespaces := max(1, n/100)
		dir, err := os.MkdirTemp("", "trustsync-ps-")
		if err != nil {
			benchutil.Fatal(err)
		}
		if err := repogen.Write(dir, repogen.Options{Agents: n, Namespaces: namespaces}); err != nil {
			benchutil.Fatal(err)
		}
		render, err := renderMs(dir, *runs)
		if err != nil {
			benchutil.Fatal(err)
		}
		noop, err := noopMs(ctx, dir, *runs)
		_ = os.RemoveAll(dir)
		if err != nil {
			benchutil.Fatal(err)
		}
		mem, err := memload.Run(ctx, memload.Options{Binary: *binary, Agents: n, Namespaces: namespaces, Limits: limits})
		if err != nil {
			benchutil.Fatal(err)
		}
		added := math.Max(mem.RSS-mem.Idle, 1)
		fmt.Printf("%d agents: no-op %s ms, render %s ms, controller %.0f MiB after the sync (%.0f idle, %.0f peak), synced in %.1f s\n",
			n, benchutil.Ms(noop), benchutil.Ms(render), mem.RSS, mem.Idle, mem.Peak, mem.Sync.Seconds())
		agents = append(agents, float64(n))
		p1 = append(p1, float64(noop))
		p3 = append(p3, float64(render))
		p7 = append(p7, added)
		kv = append(kv, fmt.Sprintf("p1_ms_%d", n), benchutil.Ms(noop), fmt.Sprintf("p3_ms_%d", n), benchutil.Ms(render),
			fmt.Sprintf("p7_mb_%d", n), fmt.Sprintf("%.0f", mem.RSS))
	}
	if len(agents) < 2 {
		benchutil.Fatal(fmt.Errorf("an exponent needs two sizes or more"))
	}
	benchutil.Result("PS", append([]string{
		"p1_exp", fmt.Sprintf("%.2f", exponent(agents, p1)),
		"p3_exp", fmt.Sprintf("%.2f", exponent(agents, p3)),
		"p7_exp", fmt.Sprintf("%.2f", exponent(agents, p7)),
	}, kv...)...)
}

// renderMs is the median warm render of the repository in dir.
func renderMs(dir string, runs int) (time.Duration, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	p := gitopsv1.DefaultPlatform()
	p.Limits = limits
	render := func() error {
		_, err := renderers.Render(root.FS(), ".", renderers.Options{Platform: p})
		return err
	}
	if err := render(); err != nil { // cold: schemas and caches
		return 0, err
	}
	times, err := benchutil.Time(runs, render)
	if err != nil {
		return 0, err
	}
	return benchutil.Median(times), nil
}

// noopMs is the median no-op apply of the repository in dir on a control plane of its
// own, after its first apply.
func noopMs(ctx context.Context, dir string, runs int) (time.Duration, error) {
	objs, err := engineload.RenderWith(dir, limits)
	if err != nil {
		return 0, err
	}
	e, err := engineload.Start()
	if err != nil {
		return 0, err
	}
	defer e.Stop()
	if _, err := e.Manager.Apply(ctx, objs); err != nil {
		return 0, err
	}
	if err := e.Settle(ctx, objs); err != nil {
		return 0, err
	}
	return e.Noop(ctx, objs, runs)
}

// exponent is the least-squares slope of log(cost) on log(size).
func exponent(size, cost []float64) float64 {
	var sx, sy, sxx, sxy float64
	for i := range size {
		x, y := math.Log(size[i]), math.Log(cost[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(size))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
