package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

func main() {
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	namespaces := flag.Int("namespaces", 10, "team namespaces they are spread over")
	runs := flag.Int("runs", 5, "timed runs of each side")
	kustomizeCLI := flag.String("kustomize", os.Getenv("KUSTOMIZE"), "kustomize CLI binary")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the warm renders here")
	changeProfile := flag.String("changeprofile", "", "write a CPU profile of the render of one changed agent here")
	flag.Parse()
	if *kustomizeCLI == "" {
		benchutil.Fatal(fmt.Errorf("no kustomize binary: set KUSTOMIZE or -kustomize (make kustomize builds it)"))
	}

	work, err := os.MkdirTemp("", "trustsync-p3-")
	if err != nil {
		benchutil.Fatal(err)
	}
	defer os.RemoveAll(work)
	repo := filepath.Join(work, "repo")
	if err := repogen.Write(repo, repogen.Options{Agents: *agents, Namespaces: *namespaces}); err != nil {
		benchutil.Fatal(err)
	}
	p := gitopsv1.DefaultPlatform()
	root, err := os.OpenRoot(repo)
	if err != nil {
		benchutil.Fatal(err)
	}
	defer root.Close()

	var res *renderers.Result
	render := func() error {
		var err error
		res, err = renderers.Render(root.FS(), ".", renderers.Options{Platform: p})
		return err
	}
	cold, err := benchutil.Time(1, render)
	if err != nil {
		benchutil.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stopProfile := benchutil.CPUProfile(*cpuprofile)
	warm, err := benchutil.Time(*runs, render)
	stopProfile()
	if err != nil {
		benchutil.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocMB := float64(after.TotalAlloc-before.TotalAlloc) / float64(*runs) / (1 << 20)
	fmt.Printf("trustsync render: %d agents, %d objects; cold %s ms, warm median %s ms, %.0f MB allocated per render\n",
		len(res.Agents), len(res.Objects), benchutil.Ms(cold[0]), benchutil.Ms(benchutil.Median(warm)), allocMB)

	// One agent changed, rendered with the cache of the render before (renderers.Cache).
	cache := &renderers.Cache{}
	if _, err := renderers.Render(root.FS(), ".", renderers.Options{Platform: p, Cache: cache}); err != nil {
		benchutil.Fatal(err)
	}
	if _, err := repogen.ChangeAgent(repo); err != nil {
		benchutil.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	var changed *renderers.Result
	stopProfile = benchutil.CPUProfile(*changeProfile)
	change, err := benchutil.Time(1, func() error {
		var err error
		changed, err = renderers.Render(root.FS(), ".", renderers.Options{Platform: p, Cache: cache})
		return err
	})
	stopProfile()
	if err != nil {
		benchutil.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	changeMB := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
	if len(changed.Objects) != len(res.Objects) {
		benchutil.Fatal(fmt.Errorf("the changed render has %d objects, the first %d", len(changed.Objects), len(res.Objects)))
	}
	fmt.Printf("one agent changed, rendered with the last render's cache (kustomize runs, schema passes): %s ms, %.0f MB allocated\n", benchutil.Ms(change[0]), changeMB)

	expanded := filepath.Join(work, "expanded")
	if err := writeExpanded(expanded, res.Objects); err != nil {
		benchutil.Fatal(err)
	}
	var kustOut []byte
	base, err := benchutil.Time(*runs, func() error {
		var stderr bytes.Buffer
		cmd := exec.Command(*kustomizeCLI, "build", expanded)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("kustomize build: %v: %s", err, stderr.String())
		}
		kustOut = out
		return nil
	})
	if err != nil {
		benchutil.Fatal(err)
	}
	if got := strings.Count(string(kustOut), "\n---\n") + 1; got != len(res.Objects) {
		benchutil.Fatal(fmt.Errorf("kustomize built %d objects, trustsync rendered %d", got, len(res.Objects)))
	}
	fmt.Printf("kustomize build (CLI) of the expanded tree: median %s ms\n", benchutil.Ms(benchutil.Median(base)))

	tm, km := benchutil.Median(warm), benchutil.Median(base)
	benchutil.Result("P3",
		"agents", fmt.Sprint(len(res.Agents)),
		"objects", fmt.Sprint(len(res.Objects)),
		"trustsync_ms", benchutil.Ms(tm),
		"trustsync_cold_ms", benchutil.Ms(cold[0]),
		"kustomize_ms", benchutil.Ms(km),
		"alloc_mb", fmt.Sprintf("%.0f", allocMB),
		"ratio", fmt.Sprintf("%.2f", float64(km)/float64(tm)),
		"change_ms", benchutil.Ms(change[0]),
		"change_alloc_mb", fmt.Sprintf("%.0f", changeMB),
	)
}

// writeExpanded writes the rendered objects as a kustomize tree: one file per namespace
// and a kustomization listing them.
func writeExpanded(dir string, objs []*manifest.Object) error {
	groups := map[string][]*manifest.Object{}
	var order []string
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "_cluster"
		}
		if _, ok := groups[ns]; !ok {
			order = append(order, ns)
		}
		groups[ns] = append(groups[ns], o)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, ns := range order {
		var buf bytes.Buffer
		if err := manifest.WriteYAML(&buf, groups[ns]); err != nil {
			return err
		}
		name := ns + ".yaml"
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&k, "- %s\n", name)
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k.String()), 0o644)
}
