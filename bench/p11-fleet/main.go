package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	_ "github.com/trustsync/trustsync/bench/internal/engineload" // its init quiets controller-runtime's log
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/engine/syncs"
	"github.com/trustsync/trustsync/fleet/clusters"
	"github.com/trustsync/trustsync/fleet/rollout"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/renderers/secureprofile"
)

const ns = "fleet"

func main() {
	agents := flag.Int("agents", 1000, "agents in the generated repository")
	members := flag.Int("clusters", 5, "member clusters")
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir, err := os.MkdirTemp("", "trustsync-bench-repo-")
	check(err)
	defer os.RemoveAll(dir)
	check(repogen.Write(dir, repogen.Options{Agents: *agents, Namespaces: 10}))

	hub, err := testenv.Start()
	check(err)
	defer hub.Stop()
	envs := make([]*testenv.Env, *members)
	for i := range envs {
		envs[i], err = testenv.Start()
		check(err)
		defer envs[i].Stop()
	}
	check(hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))

	platform := gitopsv1.DefaultPlatform()
	arts := &artifacts{dir: dir}
	arts.next()
	registry := &clusters.Registry{Clusters: hub.Client, Secrets: hub.Client, Scheme: hub.Scheme, PlatformNamespace: platform.Namespace,
		Cache: objcache.Options{FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName}}
	go func() { _ = registry.Start(ctx) }()
	mapper, err := mapperOf(hub.Config)
	check(err)
	r := &syncs.Reconciler{
		Client: hub.Client, Config: hub.Config, Mapper: mapper, Artifacts: arts, Platform: platform,
		Members: registry, Rollout: rollout.Planner{}, APIReader: hub.Client,
		Options: syncs.Options{Concurrency: 8, HealthInterval: time.Second, MaxConcurrentReconciles: 1, ReportRetryInterval: time.Minute},
	}
	check(hub.Client.Create(ctx, &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"}, Spec: gitopsv1.GitSourceSpec{URL: "https://git.example/agents.git", Interval: metav1.Duration{Duration: time.Hour}}}))
	check(hub.Client.Create(ctx, &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"}, Spec: gitopsv1.SyncSpec{
		SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./", Interval: metav1.Duration{Duration: time.Hour}, Prune: true,
		ClusterSelector: &metav1.LabelSelector{},
	}}))
	reconcile := func(want int) time.Duration {
		start := time.Now()
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "agents"}})
		check(err)
		took := time.Since(start)
		check(allApplied(ctx, hub, arts.revision, want))
		return took
	}

	// The first cluster, then the other four: the heap each extra one costs.
	register(ctx, hub, envs[0], 0)
	first := reconcile(1)
	heap1 := heapMB()
	for i := 1; i < len(envs); i++ {
		register(ctx, hub, envs[i], i)
	}
	rest := reconcile(len(envs))
	heapN := heapMB()
	fmt.Printf("first apply: to 1 cluster %s ms, to the other %d %s ms; heap %.1f MB with 1 cluster, %.1f MB with %d\n",
		benchutil.Ms(first), len(envs)-1, benchutil.Ms(rest), heap1, heapN, len(envs))
	// A reconcile with nothing new: it must send nothing, to any cluster.
	noop := reconcile(len(envs))
	fmt.Printf("no-op reconcile of the fleet Sync: %s ms\n", benchutil.Ms(noop))

	// One agent changed: the fleet's time to all clusters applied.
	file, err := repogen.ChangeAgent(dir)
	check(err)
	arts.next()
	fleet := reconcile(len(envs))
	fmt.Printf("trustsync fleet: one agent changed, applied to %d clusters in %s ms\n", len(envs), benchutil.Ms(fleet))

	// The baseline: the single-cluster engine per cluster, one after another, each warm
	// on the revision the fleet applied, then timed on the next one-agent change.
	singles := make([]*single, len(envs))
	for i, e := range envs {
		singles[i], err = newSingle(ctx, e, platform.ForCluster(clusterPlatform(i)))
		check(err)
		_, err = singles[i].run(ctx, dir)
		check(err)
	}
	original := strings.Replace(read(file), "  mtlsMode: strict\n", "", 1)
	check(os.WriteFile(file, []byte(original), 0o644))
	var sent int
	baseline, err := benchutil.Time(1, func() error {
		for _, s := range singles {
			n, err := s.run(ctx, dir)
			if err != nil {
				return err
			}
			sent += n
		}
		return nil
	})
	check(err)
	fmt.Printf("single-cluster engine, %d clusters one after another: %s ms (%d objects sent)\n", len(envs), benchutil.Ms(baseline[0]), sent)
	benchutil.Result("P11",
		"agents", fmt.Sprint(*agents),
		"clusters", fmt.Sprint(len(envs)),
		"fleet_ms", benchutil.Ms(fleet),
		"sequential_ms", benchutil.Ms(baseline[0]),
		"ratio", fmt.Sprintf("%.2f", float64(baseline[0])/float64(fleet)),
		"noop_ms", benchutil.Ms(noop),
		"heap_1_mb", fmt.Sprintf("%.1f", heap1),
		fmt.Sprintf("heap_%d_mb", len(envs)), fmt.Sprintf("%.1f", heapN),
		"mb_per_extra_cluster", fmt.Sprintf("%.1f", (heapN-heap1)/float64(len(envs)-1)),
	)
}

func check(err error) {
	if err != nil {
		benchutil.Fatal(err)
	}
}

func read(path string) string {
	data, err := os.ReadFile(path)
	check(err)
	return string(data)
}

// artifacts serves the repository directory as the source's artifact, a new revision
// on each next.
type artifacts struct {
	dir      string
	n        int
	revision string
}

func (a *artifacts) next() {
	a.n++
	a.revision = fmt.Sprintf("main@sha1:%040d", a.n)
}

func (a *artifacts) Latest(_ client.ObjectKey) (*syncs.Artifact, bool) {
	return &syncs.Artifact{Revision: a.revision, Commit: fmt.Sprintf("%040d", a.n), Digest: fmt.Sprint(a.n), Dir: a.dir}, true
}

func clusterPlatform(i int) *gitopsv1.ClusterPlatform {
	return &gitopsv1.ClusterPlatform{TrustDomain: fmt.Sprintf("member-%d.example.org", i)}
}

// register adds member i to the hub: its kubeconfig Secret and its Cluster.
func register(ctx context.Context, hub, e *testenv.Env, i int) {
	name := fmt.Sprintf("member-%d", i)
	data, err := e.Kubeconfig()
	check(err)
	check(hub.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig"}, Data: map[string][]byte{"value": data}}))
	check(hub.Client.Create(ctx, &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gitopsv1.ClusterSpec{Platform: clusterPlatform(i)}}))
}

// allApplied checks that the Sync reports want clusters on the revision.
func allApplied(ctx context.Context, hub *testenv.Env, revision string, want int) error {
	s := &gitopsv1.Sync{}
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "agents"}, s); err != nil {
		return err
	}
	n := 0
	for _, c := range s.Status.Clusters {
		if c.LastAppliedRevision == revision && c.Result == gitopsv1.ClusterApplied {
			n++
		}
	}
	if n != want {
		return fmt.Errorf("%d clusters report %s applied, want %d: %+v", n, revision, want, s.Status.Clusters)
	}
	return nil
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

func mapperOf(cfg *rest.Config) (meta.RESTMapper, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return apiutil.NewDynamicRESTMapper(cfg, httpClient)
}

// single is the single-cluster engine on one member: its renders and its two apply
// Managers (the platform objects and the Sync's own), as the Sync reconciler has them.
type single struct {
	platform *gitopsv1.Platform
	runs     *renderers.Cache
	shared   *apply.Manager
	own      *apply.Manager
}

func newSingle(ctx context.Context, e *testenv.Env, p *gitopsv1.Platform) (*single, error) {
	cache, err := objcache.New(e.Config, objcache.Options{Scheme: e.Scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName})
	if err != nil {
		return nil, err
	}
	go func() { _ = cache.Start(ctx) }()
	cache.WaitForCacheSync(ctx)
	mapper, err := mapperOf(e.Config)
	if err != nil {
		return nil, err
	}
	c, err := client.New(e.Config, client.Options{Scheme: e.Scheme, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	manager := func(labels map[string]string) (*apply.Manager, error) {
		opts := apply.DefaultOptions()
		opts.FieldOwner = gitopsv1.FieldManager
		opts.Labels = labels
		opts.Concurrency = 8
		return apply.New(c, cache, mapper, opts)
	}
	s := &single{platform: p, runs: &renderers.Cache{}}
	if s.shared, err = manager(map[string]string{gitopsv1.LabelSyncName: syncs.PlatformOwner, gitopsv1.LabelSyncNamespace: p.Namespace}); err != nil {
		return nil, err
	}
	// The fleet Sync's labels: its objects stay as they are, not relabelled.
	if s.own, err = manager(map[string]string{gitopsv1.LabelSyncName: "agents", gitopsv1.LabelSyncNamespace: ns}); err != nil {
		return nil, err
	}
	return s, nil
}

// run renders the tree with the cluster's platform and applies it; it returns how many
// objects it sent.
func (s *single) run(ctx context.Context, dir string) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	res, err := renderers.Render(root.FS(), ".", renderers.Options{Platform: s.platform, Cache: s.runs})
	if err != nil {
		return 0, err
	}
	var platform, own []*manifest.Object
	for _, o := range res.Objects {
		if secureprofile.IsPlatform(o) {
			platform = append(platform, o)
		} else {
			own = append(own, o)
		}
	}
	sent := 0
	for _, step := range []struct {
		m    *apply.Manager
		objs []*manifest.Object
	}{{s.shared, platform}, {s.own, own}} {
		cs, err := step.m.Apply(ctx, step.objs)
		if err != nil {
			return 0, err
		}
		sent += cs.Count(apply.Created) + cs.Count(apply.Configured)
	}
	return sent, nil
}
