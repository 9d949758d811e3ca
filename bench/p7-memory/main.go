package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/memload"
)

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	heapProfile := flag.String("heapprofile", "", "write the controller's heap profile, once synced, here")
	flag.Parse()
	log.SetLogger(logr.Discard())

	r, err := memload.Run(context.Background(), memload.Options{Binary: *binary, Agents: *agents, Namespaces: 10, HeapProfile: *heapProfile})
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("synced %d agents in %.1f s; controller RSS %.0f MiB (idle %.0f MiB, peak %.0f MiB) on %s/%s\n",
		*agents, r.Sync.Seconds(), r.RSS, r.Idle, r.Peak, runtime.GOOS, runtime.GOARCH)
	benchutil.Result("P7", "agents", fmt.Sprint(*agents), "sync_s", fmt.Sprintf("%.1f", r.Sync.Seconds()),
		"rss_mb", fmt.Sprintf("%.0f", r.RSS), "peak_mb", fmt.Sprintf("%.0f", r.Peak), "idle_mb", fmt.Sprintf("%.0f", r.Idle))
}
