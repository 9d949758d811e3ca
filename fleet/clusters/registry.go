package clusters

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/engine/syncs"
	"github.com/trustsync/trustsync/internal/redact"
)

// Client-side rate limits of the requests to one member: an apply of a Sync is many
// requests in a burst, which client-go's defaults (5/s, burst 10) would stretch out.
const (
	memberQPS   = 100
	memberBurst = 300
)

// DefaultTimeout bounds one request to a member when Registry.Timeout is not set.
const DefaultTimeout = 10 * time.Second

// Registry keeps a connection, a RESTMapper and an object cache per member cluster: it
// gives the engine, for each Cluster a Sync selects, what reaches that cluster
// (syncs.Members).
//
// A member's Target is built on the first Members call that selects its Cluster and
// kept while the Cluster's kubeconfig and ServiceAccount stay the same; it is rebuilt
// (the old object cache stopped) when they change, and dropped (its cache stopped) when
// the Cluster is deleted or suspended, as the next Members call for its namespace
// notices. A Cluster found unreachable (Ready=False) is listed with the reconciler's
// message but keeps its Target, whose cache reconnects by itself once the cluster
// answers again. A Target is shared by every Sync on its cluster: it is read, never modified.
//
// Locking: mu guards the table of entries and is never held while a Secret is read or a
// cluster contacted; each entry has a lock of its own, held while its Target is checked
// or built, so that building one cluster's Target (bounded by Timeout) holds up only
// the calls that want that same cluster. One Members call builds the Targets it needs
// one after the other.
type Registry struct {
	// Clusters lists Clusters: the manager's cache.
	Clusters client.Reader
	// Secrets reads the kubeconfig Secrets, uncached: the hub does not cache every Secret.
	Secrets client.Reader
	// Scheme of the typed objects read through the members' object caches.
	Scheme *runtime.Scheme
	// PlatformNamespace is the namespace of a ServiceAccount a Cluster names without one.
	PlatformNamespace string
	// Cache is the template of each member's object cache; its Scheme is Scheme when
	// nil.
	Cache objcache.Options
	// Timeout bounds one request to a member and the first sync of its object cache.
	// Default 10s.
	Timeout time.Duration

	mu sync.Mutex
	// ctx is Start's: the parent of every member cache's context; nil before Start.
	ctx     context.Context
	stopped bool
	entries map[types.NamespacedName]*entry
	// caches counts the running member caches, which Start waits for.
	caches sync.WaitGroup
}

var (
	_ syncs.Members                  = (*Registry)(nil)
	_ manager.Runnable               = (*Registry)(nil)
	_ manager.LeaderElectionRunnable = (*Registry)(nil)
)

// entry is one member cluster's Target; mu is held while it is checked or built.
type entry struct {
	mu sync.Mutex
	// dropped: the entry left the table; it is never built again.
	dropped bool
	// fingerprint of what the target was built from (see fingerprint).
	fingerprint [sha256.Size]byte
	target      *syncs.Target
	// cancel stops target's object cache.
	cancel context.CancelFunc
}

// stop stops the entry's object cache; the caller holds e.mu.
func (e *entry) stop() {
	if e.cancel != nil {
		e.cancel()
	}
	e.target, e.cancel, e.fingerprint = nil, nil, [sha256.Size]byte{}
}

// NeedLeaderElection says the registry runs on the leader only, as the engine does.
func (r *Registry) NeedLeaderElection() bool { return true }

// Start runs the registry until ctx is done, then stops every member's object cache
// and waits for them.
func (r *Registry) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.ctx != nil {
		r.mu.Unlock()
		return errors.New("the cluster registry is started already")
	}
	r.ctx = ctx
	r.mu.Unlock()

	<-ctx.Done()

	r.mu.Lock()
	r.stopped = true
	entries := r.entries
	r.entries = nil
	r.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		e.dropped = true
		e.stop()
		e.mu.Unlock()
	}
	r.caches.Wait()
	return nil
}

// Members lists the Clusters of namespace that selector selects, by name, each with
// what reaches it or why nothing does. A nil selector selects nothing, as a nil
// metav1.LabelSelector does.
func (r *Registry) Members(ctx context.Context, namespace string, selector labels.Selector) ([]syncs.Member, error) {
	if err := r.running(); err != nil {
		return nil, err
	}
	// The whole namespace, once: what is not in it any more is dropped.
	list := &gitopsv1.ClusterList{}
	if err := r.Clusters.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing the Clusters of %s: %w", namespace, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	present := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		if !list.Items[i].Spec.Suspend {
			present[list.Items[i].Name] = true
		}
	}
	r.drop(namespace, present)

	if selector == nil {
		selector = labels.Nothing()
	}
	var members []syncs.Member
	for i := range list.Items {
		c := &list.Items[i]
		if !selector.Matches(labels.Set(c.Labels)) {
			continue
		}
		m := syncs.Member{Cluster: c.DeepCopy()}
		m.Target, m.Err = r.target(ctx, m.Cluster)
		members = append(members, m)
	}
	return members, nil
}

func (r *Registry) running() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.ctx == nil:
		return errors.New("the cluster registry has not started: it runs with the manager, as its leader")
	case r.stopped || r.ctx.Err() != nil:
		return errors.New("the cluster registry has stopped")
	}
	return nil
}

// drop stops the Targets of the Clusters of namespace not in present.
func (r *Registry) drop(namespace string, present map[string]bool) {
	var gone []*entry
	r.mu.Lock()
	for key, e := range r.entries {
		if key.Namespace == namespace && !present[key.Name] {
			delete(r.entries, key)
			gone = append(gone, e)
		}
	}
	r.mu.Unlock()
	// Outside mu: a build under way on one of them finishes first.
	for _, e := range gone {
		e.mu.Lock()
		e.dropped = true
		e.stop()
		e.mu.Unlock()
	}
}

// entry is the table's entry of key, created when missing.
func (r *Registry) entry(key types.NamespacedName) (*entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, errors.New("the cluster registry has stopped")
	}
	if r.entries == nil {
		r.entries = map[types.NamespacedName]*entry{}
	}
	e, ok := r.entries[key]
	if !ok {
		e = &entry{}
		r.entries[key] = e
	}
	return e, nil
}

// target is what reaches c, from the table when c's kubeconfig and ServiceAccount are
// those it was built from.
func (r *Registry) target(ctx context.Context, c *gitopsv1.Cluster) (*syncs.Target, error) {
	if c.Spec.Suspend {
		return nil, errors.New("the Cluster is suspended")
	}
	// A Ready=False of an older generation says nothing of the Cluster as it is now
	// (its kubeconfig reference may have changed): it is tried, as one not contacted yet.
	if cond := meta.FindStatusCondition(c.Status.Conditions, gitopsv1.ReadyCondition); cond != nil &&
		cond.Status == metav1.ConditionFalse && cond.ObservedGeneration == c.Generation {
		// The Cluster reconciler wrote it, credentials redacted; it tries again soon, and
		// the Sync controller watches Clusters.
		return nil, errors.New(cond.Message)
	}
	kubeconfig, err := readKubeConfig(ctx, r.Secrets, c)
	if err != nil {
		return nil, errors.New(redact.String(err.Error()))
	}
	fp := fingerprint(kubeconfig, c.Spec.ServiceAccountName, c.Spec.ServiceAccountNamespace)
	e, err := r.lockEntry(types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	if e.target != nil && e.fingerprint == fp {
		return e.target, nil
	}
	e.stop()
	t, cancel, err := r.build(ctx, c, kubeconfig)
	if err != nil {
		return nil, err
	}
	e.fingerprint, e.target, e.cancel = fp, t, cancel
	return t, nil
}

// lockEntry is the table's entry of key, created when missing, locked.
func (r *Registry) lockEntry(key types.NamespacedName) (*entry, error) {
	for {
		e, err := r.entry(key)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		if !e.dropped {
			return e, nil
		}
		// Dropped while this call waited for it (the Cluster went, and is back): a new one.
		e.mu.Unlock()
	}
}

// build connects to c and starts its object cache; cancel stops the cache.
func (r *Registry) build(ctx context.Context, c *gitopsv1.Cluster, kubeconfig []byte) (_ *syncs.Target, cancel context.CancelFunc, _ error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg, err := connectKubeConfig(c, kubeconfig, r.PlatformNamespace, timeout)
	if err != nil {
		return nil, nil, errors.New(redact.String(err.Error()))
	}
	cfg.QPS, cfg.Burst = memberQPS, memberBurst
	// Nothing built from here on names a credential, but a server's answer might echo one.
	hide := redact.New(append([]string{cfg.BearerToken}, redact.Key(cfg.KeyData)...)...)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, hide.Error(fmt.Errorf("the client of the cluster at %s: %w", cfg.Host, err))
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, nil, hide.Error(fmt.Errorf("the RESTMapper of the cluster at %s: %w", cfg.Host, err))
	}
	// Watches are long-running: a client timeout would cut them.
	cacheCfg := rest.CopyConfig(cfg)
	cacheCfg.Timeout = 0
	opts := r.Cache
	if opts.Scheme == nil {
		opts.Scheme = r.Scheme
	}
	// The cache writes its defaults into ByObject: each member has a map of its own.
	opts.ByObject = maps.Clone(opts.ByObject)
	objects, err := objcache.New(cacheCfg, opts)
	if err != nil {
		return nil, nil, hide.Error(fmt.Errorf("the object cache of the cluster at %s: %w", cfg.Host, err))
	}

	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, nil, errors.New("the cluster registry has stopped")
	}
	cctx, cancel := context.WithCancel(r.ctx)
	r.caches.Add(1)
	r.mu.Unlock()
	logger := log.FromContext(cctx).WithValues("cluster", klog.KObj(c))
	go func() {
		defer r.caches.Done()
		if err := objects.Start(cctx); err != nil {
			logger.Error(hide.Error(err), "the member's object cache stopped")
		}
	}()
	sctx, done := context.WithTimeout(ctx, timeout)
	defer done()
	if !objects.WaitForCacheSync(sctx) {
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("the object cache of the cluster at %s did not sync within %s", cfg.Host, timeout)
	}
	return &syncs.Target{Config: cfg, Mapper: mapper, Objects: objects}, cancel, nil
}

// fingerprint of what a Target is built from: the kubeconfig and the ServiceAccount.
// Each part is length-prefixed, so no two inputs run together.
func fingerprint(kubeconfig []byte, serviceAccountName, serviceAccountNamespace string) [sha256.Size]byte {
	h := sha256.New()
	for _, part := range [][]byte{kubeconfig, []byte(serviceAccountName), []byte(serviceAccountNamespace)} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write(part)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
