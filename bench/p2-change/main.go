package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/engineload"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

func main() {
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "trustsync-bench-repo-")
	if err != nil {
		benchutil.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := repogen.Write(dir, repogen.Options{Agents: *agents, Namespaces: 10}); err != nil {
		benchutil.Fatal(err)
	}
	// The kustomize runs of the applied revision are kept, as a Sync keeps them.
	runs := &renderers.Cache{}
	objs, err := engineload.Render(dir, runs)
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
	if _, err := repogen.ChangeAgent(dir); err != nil {
		benchutil.Fatal(err)
	}
	e.Requests.Reset()
	var sent int
	var next []*manifest.Object
	var renderTook time.Duration
	took, err := benchutil.Time(1, func() error {
		start := time.Now()
		var err error
		if next, err = engineload.Render(dir, runs); err != nil {
			return err
		}
		renderTook = time.Since(start)
		cs, err := e.Manager.Apply(ctx, next)
		if err != nil {
			return err
		}
		sent = cs.Count("configured") + cs.Count("created")
		return nil
	})
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("trustsync: the new revision rendered in %s ms, then %d objects sent (%d applies, %d dry-runs): %s ms in all\n", benchutil.Ms(renderTook), sent, e.Requests.Count(metrics.VerbApply), e.Requests.Count(metrics.VerbDryRun), benchutil.Ms(took[0]))

	kubectlMs, err := baseline(next)
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("kubectl apply --server-side of all %d objects: %s ms\n", len(next), benchutil.Ms(kubectlMs))
	benchutil.Result("P2",
		"objects", fmt.Sprint(len(next)),
		"objects_sent", fmt.Sprint(sent),
		"requests", fmt.Sprint(e.Requests.Count(metrics.VerbApply)+e.Requests.Count(metrics.VerbDryRun)),
		"trustsync_ms", benchutil.Ms(took[0]),
		"render_ms", benchutil.Ms(renderTook),
		"apply_ms", benchutil.Ms(took[0]-renderTook),
		"kubectl_ms", benchutil.Ms(kubectlMs),
		"ratio", fmt.Sprintf("%.0f", float64(kubectlMs)/float64(took[0])),
	)
}

// baseline times kubectl apply --server-side of the whole set on a control plane of its
// own, after a first apply of the same set (so it, too, is the change, not the creation).
func baseline(objs []*manifest.Object) (time.Duration, error) {
	env, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	work, err := os.MkdirTemp("", "trustsync-p2-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := stack.WriteKubeconfig(kubeconfig, env); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	if err := manifest.WriteYAML(&buf, objs); err != nil {
		return 0, err
	}
	manifests := filepath.Join(work, "all.yaml")
	if err := os.WriteFile(manifests, buf.Bytes(), 0o644); err != nil {
		return 0, err
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return 0, err
	}
	kubectl := func() error {
		cmd := exec.Command(filepath.Join(assets, "kubectl"), "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager", "ci", "-f", manifests)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl: %v: %s", err, stderr.String())
		}
		return nil
	}
	if err := kubectl(); err != nil { // creation, not timed
		return 0, err
	}
	times, err := benchutil.Time(1, kubectl)
	if err != nil {
		return 0, err
	}
	return times[0], nil
}
