package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/trustsync/trustsync/bench/internal/admissionload"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/engineload"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/manifest"
)

// Slack of the end state over the start: goroutines a reconcile or a GC may have in
// flight, heap the caches may round up to. A leak of one goroutine or a few KiB per
// reconcile goes far beyond either over 1,000 of them.
const (
	goroutineSlack = 10
	heapSlackMB    = 16.0
)

func main() {
	agents := flag.Int("agents", 100, "agents in the Sync's repository")
	reconciles := flag.Int("reconciles", 1000, "reconciles")
	admissions := flag.Int("admissions", 10000, "admission requests")
	flag.Parse()
	ctx := context.Background()

	objs, dir, err := engineload.Repo(*agents)
	defer os.RemoveAll(dir)
	if err != nil {
		benchutil.Fatal(err)
	}
	e, err := engineload.Start()
	if err != nil {
		benchutil.Fatal(err)
	}
	defer e.Stop()
	if _, err := e.Manager.Apply(ctx, objs); err != nil {
		benchutil.Fatal(err)
	}
	if err := e.Settle(ctx, objs); err != nil {
		benchutil.Fatal(err)
	}
	target := firstConfigMap(objs)
	webhook := &admission.Webhook{Handler: admissionload.Mutator()}
	_, review, err := admissionload.Review()
	if err != nil {
		benchutil.Fatal(err)
	}
	// Warm up both paths so that what is built once (caches, pools) is in the start.
	for range 20 {
		if _, err := e.Manager.Apply(ctx, objs); err != nil {
			benchutil.Fatal(err)
		}
	}
	for range 500 {
		admissionload.Serve(webhook, review)
	}
	g0, h0 := snapshot()
	fmt.Printf("start: %d goroutines, %.1f MiB live heap\n", g0, h0)

	corrected := 0
	start := time.Now()
	for i := 1; i <= *reconciles; i++ {
		if i%10 == 0 {
			if err := drift(ctx, e.Client, target, i); err != nil {
				benchutil.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // the informer sees the foreign write
		}
		cs, err := e.Manager.Apply(ctx, objs)
		if err != nil {
			benchutil.Fatal(fmt.Errorf("reconcile %d: %w", i, err))
		}
		corrected += len(objs) - cs.Count(apply.Unchanged)
	}
	fmt.Printf("%d reconciles in %s, %d objects corrected\n", *reconciles, time.Since(start).Round(time.Millisecond), corrected)
	g1, h1 := snapshot()
	fmt.Printf("after the reconciles: %d goroutines, %.1f MiB live heap\n", g1, h1)

	start = time.Now()
	for range *admissions {
		if rec := admissionload.Serve(webhook, review); rec.Code != http.StatusOK {
			benchutil.Fatal(fmt.Errorf("admission answered %d", rec.Code))
		}
	}
	fmt.Printf("%d admissions in %s\n", *admissions, time.Since(start).Round(time.Millisecond))
	g2, h2 := snapshot()
	fmt.Printf("end: %d goroutines, %.1f MiB live heap\n", g2, h2)
	if corrected == 0 {
		benchutil.Fatal(fmt.Errorf("no injected drift was corrected: the soak did not exercise drift"))
	}
	if g2 > g0+goroutineSlack || h2 > h0+heapSlackMB {
		benchutil.Fatal(fmt.Errorf("grew from %d goroutines and %.1f MiB to %d and %.1f MiB", g0, h0, g2, h2))
	}
	benchutil.Result("R2",
		"reconciles", fmt.Sprint(*reconciles),
		"admissions", fmt.Sprint(*admissions),
		"drift_corrected", fmt.Sprint(corrected),
		"goroutines_start", fmt.Sprint(g0),
		"goroutines_end", fmt.Sprint(g2),
		"heap_start_mb", fmt.Sprintf("%.1f", h0),
		"heap_end_mb", fmt.Sprintf("%.1f", h2),
	)
}

// snapshot is the goroutine count and the live heap after a GC, in MiB; goroutines that
// are ending are given a moment.
func snapshot() (int, float64) {
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), float64(m.HeapAlloc) / (1 << 20)
}

func firstConfigMap(objs []*manifest.Object) types.NamespacedName {
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetNamespace() != "" {
			return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
		}
	}
	benchutil.Fatal(fmt.Errorf("the repository has no ConfigMap to drift"))
	return types.NamespacedName{}
}

// drift changes the ConfigMap as another field manager would.
func drift(ctx context.Context, c client.Client, key types.NamespacedName, i int) error {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, key, cm); err != nil {
		return err
	}
	patch := client.MergeFrom(cm.DeepCopy())
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	for k := range cm.Data {
		cm.Data[k] = fmt.Sprintf("changed by hand %d", i)
		break
	}
	return c.Patch(ctx, cm, patch, client.FieldOwner("kubectl-edit"))
}
