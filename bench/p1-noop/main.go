package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/engineload"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
)

func main() {
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	runs := flag.Int("runs", 3, "timed no-op runs of each side")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of trustsync's no-op runs here")
	restartProfile := flag.String("restartprofile", "", "write a CPU profile of the no-op after a restart here")
	skipBaseline := flag.Bool("skip-baseline", false, "leave out fluxcd/pkg/ssa (for profiling; no P1 line)")
	flag.Parse()
	ctx := context.Background()

	objs, dir, err := engineload.Repo(*agents)
	defer os.RemoveAll(dir)
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("%d agents render to %d objects\n", *agents, len(objs))

	// trustsync
	e, err := engineload.Start()
	if err != nil {
		benchutil.Fatal(err)
	}
	defer e.Stop()
	first, err := benchutil.Time(1, func() error { _, err := e.Manager.Apply(ctx, objs); return err })
	if err != nil {
		benchutil.Fatal(err)
	}
	if err := e.Settle(ctx, objs); err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("trustsync first apply: %s ms\n", benchutil.Ms(first[0]))
	e.Requests.Reset()
	stopProfile := benchutil.CPUProfile(*cpuprofile)
	tm, err := e.Noop(ctx, objs, *runs)
	if err != nil {
		benchutil.Fatal(err)
	}
	stopProfile()
	writes, dryruns := e.Requests.Writes()/int64(*runs), e.Requests.Count(metrics.VerbDryRun)/int64(*runs)
	fmt.Printf("trustsync no-op apply: median %s ms, %d writes, %d dry-runs\n", benchutil.Ms(tm), writes, dryruns)

	// The same no-op right after a controller restart (a new cache, nothing remembered),
	// runs times, each after a restart of its own; the median against P1's.
	var restarts, syncs []time.Duration
	var restartWrites, restartDryruns int64
	for i := range *runs {
		if err := e.Restart(); err != nil {
			benchutil.Fatal(err)
		}
		warm, err := e.WarmCache(ctx, objs)
		if err != nil {
			benchutil.Fatal(err)
		}
		e.Requests.Reset()
		if i == 0 {
			stopProfile = benchutil.CPUProfile(*restartProfile)
		}
		took, err := e.Noop(ctx, objs, 1)
		if i == 0 {
			stopProfile()
		}
		if err != nil {
			benchutil.Fatal(fmt.Errorf("after a restart: %w", err))
		}
		restarts, syncs = append(restarts, took), append(syncs, warm)
		restartWrites += e.Requests.Writes()
		restartDryruns += e.Requests.Count(metrics.VerbDryRun)
	}
	restart := benchutil.Median(restarts)
	fmt.Printf("trustsync no-op apply after a restart: median %s ms of %d restarts (each cache synced in a median %s ms before it)\n", benchutil.Ms(restart), *runs, benchutil.Ms(benchutil.Median(syncs)))
	benchutil.Result("P1R",
		"writes", fmt.Sprint(restartWrites),
		"dryruns", fmt.Sprint(restartDryruns),
		"ms", benchutil.Ms(restart),
		"p1_ms", benchutil.Ms(tm),
		"ratio_to_p1", fmt.Sprintf("%.2f", float64(restart)/float64(tm)),
		"cache_sync_ms", benchutil.Ms(benchutil.Median(syncs)),
	)

	// baseline: fluxcd/pkg/ssa on a control plane of its own
	if *skipBaseline {
		return
	}
	fluxMs, fluxWrites, fluxDryruns, err := baseline(ctx, objs, *runs)
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("fluxcd/pkg/ssa ApplyAllStaged no-op: median %s ms, %d writes, %d dry-runs\n", benchutil.Ms(fluxMs), fluxWrites, fluxDryruns)

	benchutil.Result("P1",
		"objects", fmt.Sprint(len(objs)),
		"writes", fmt.Sprint(writes),
		"dryruns", fmt.Sprint(dryruns),
		"trustsync_ms", benchutil.Ms(tm),
		"baseline_writes", fmt.Sprint(fluxWrites),
		"baseline_dryruns", fmt.Sprint(fluxDryruns),
		"baseline_ms", benchutil.Ms(fluxMs),
		"ratio", fmt.Sprintf("%.0f", float64(fluxMs)/float64(tm)),
	)
}

func baseline(ctx context.Context, objs []*manifest.Object, runs int) (time.Duration, int64, int64, error) {
	env, err := testenv.Start()
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = env.Stop() }()
	requests := metrics.NewRequestCounter()
	cfg := engineload.Counted(env.Config, requests)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, 0, 0, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return 0, 0, 0, err
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme, Mapper: mapper})
	if err != nil {
		return 0, 0, 0, err
	}
	rm := ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}), ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
	rm.SetConcurrency(4) // kustomize-controller's default --concurrent-ssa
	us := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		us[i] = o.DeepCopy()
		if us[i].GetNamespace() == "" && o.GetKind() != "Namespace" && o.GetKind() != "ClusterSPIFFEID" {
			us[i].SetNamespace("default")
		}
	}
	opts := ssa.DefaultApplyOptions()
	if _, err := rm.ApplyAllStaged(ctx, us, opts); err != nil {
		return 0, 0, 0, fmt.Errorf("baseline first apply: %w", err)
	}
	requests.Reset()
	times, err := benchutil.Time(runs, func() error {
		_, err := rm.ApplyAllStaged(ctx, us, opts)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return benchutil.Median(times), requests.Writes() / int64(runs), requests.Count(metrics.VerbDryRun) / int64(runs), nil
}
