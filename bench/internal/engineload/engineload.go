package engineload

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/bench/internal/repogen"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

func init() {
	// The benchmarks print their own lines; controller-runtime's log would only add noise.
	log.SetLogger(logr.Discard())
}

// Repo renders a generated repository of n agents and returns its objects and the
// repository's directory.
func Repo(n int) ([]*manifest.Object, string, error) {
	dir, err := os.MkdirTemp("", "trustsync-bench-repo-")
	if err != nil {
		return nil, "", err
	}
	if err := repogen.Write(dir, repogen.Options{Agents: n, Namespaces: 10}); err != nil {
		return nil, dir, err
	}
	objs, err := Render(dir, nil)
	return objs, dir, err
}

// Render renders a repository directory, keeping kustomize's runs in cache when given
// (as a Sync keeps them across revisions).
func Render(dir string, cache *renderers.Cache) ([]*manifest.Object, error) {
	return render(dir, renderers.Options{Cache: cache})
}

// RenderWith renders a repository directory with other render limits (repositories past
// the defaults).
func RenderWith(dir string, limits gitopsv1.Limits) ([]*manifest.Object, error) {
	p := gitopsv1.DefaultPlatform()
	p.Limits = limits
	return render(dir, renderers.Options{Platform: p})
}

func render(dir string, o renderers.Options) ([]*manifest.Object, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	res, err := renderers.Render(root.FS(), ".", o)
	if err != nil {
		return nil, err
	}
	return res.Objects, nil
}

// Engine is trustsync's applier on a control plane, with its request counter.
type Engine struct {
	Env      *testenv.Env
	Manager  *apply.Manager
	Cache    crcache.Cache
	Requests *metrics.RequestCounter
	Client   client.Client
	mapper   meta.RESTMapper
	cancel   context.CancelFunc
}

// Start starts a control plane and an applier on it.
func Start() (*Engine, error) {
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	e := &Engine{Env: env, Requests: metrics.NewRequestCounter(), cancel: func() {}}
	cfg := Counted(env.Config, e.Requests)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	if e.mapper, err = apiutil.NewDynamicRESTMapper(cfg, httpClient); err != nil {
		return nil, err
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: env.Scheme, Mapper: e.mapper}); err != nil {
		return nil, err
	}
	return e, e.Restart()
}

// Restart replaces the applier as a controller restart does: a new informer cache,
// synced from the API server, and a Manager that remembers nothing.
func (e *Engine) Restart() error {
	e.cancel()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	var err error
	if e.Cache, err = objcache.New(e.Env.Config, objcache.Options{Scheme: e.Env.Scheme, FieldOwner: gitopsv1.FieldManager, OwnerLabel: gitopsv1.LabelSyncName}); err != nil {
		return err
	}
	go func() { _ = e.Cache.Start(ctx) }()
	e.Cache.WaitForCacheSync(ctx)
	opts := apply.DefaultOptions()
	opts.Labels = map[string]string{gitopsv1.LabelSyncName: "bench", gitopsv1.LabelSyncNamespace: "bench"}
	e.Manager, err = apply.New(e.Client, e.Cache, e.mapper, opts)
	return err
}

// Counted returns a copy of cfg whose requests the counter counts.
func Counted(cfg *rest.Config, c *metrics.RequestCounter) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.WrapTransport = c.Wrap
	out.QPS, out.Burst = 1000, 2000 // measure the engine, not client-side throttling
	return out
}

// WarmCache starts the cache's informers for the kinds of objs and waits for them to
// sync, as a controller does before its first reconcile; it returns how long that took.
func (e *Engine) WarmCache(ctx context.Context, objs []*manifest.Object) (time.Duration, error) {
	start := time.Now()
	seen := map[schema.GroupVersionKind]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if _, err := e.Cache.GetInformer(ctx, u); err != nil {
			return 0, fmt.Errorf("informer for %s: %w", gvk, err)
		}
	}
	if !e.Cache.WaitForCacheSync(ctx) {
		return 0, fmt.Errorf("cache did not sync")
	}
	return time.Since(start), nil
}

// Noop times runs applies of objs that must change nothing, and returns their median.
func (e *Engine) Noop(ctx context.Context, objs []*manifest.Object, runs int) (time.Duration, error) {
	times, err := benchutil.Time(runs, func() error {
		cs, err := e.Manager.Apply(ctx, objs)
		if err == nil && cs.Count(apply.Unchanged) != len(objs) {
			err = fmt.Errorf("no-op apply changed something: %s", cs.Summary())
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return benchutil.Median(times), nil
}

// Settle waits until the cache holds every object at its latest version.
func (e *Engine) Settle(ctx context.Context, objs []*manifest.Object) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, o := range objs {
		key := client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}
		for {
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(o.GroupVersionKind())
			if err := e.Cache.Get(ctx, key, live); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cache did not see %s", o.Ref())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // updates behind the creations
	return nil
}

// Stop stops the applier and the control plane.
func (e *Engine) Stop() {
	e.cancel()
	time.Sleep(100 * time.Millisecond)
	_ = e.Env.Stop()
}
