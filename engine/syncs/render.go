package syncs

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/renderers"
)

// errArtifactGone: the artifact's directory is not there (pruned from the Git cache).
var errArtifactGone = errors.New("the artifact is no longer on disk")

// renderCache keeps each Sync's last render, so a reconcile with nothing new in Git does
// not render again: the render is a pure function of the artifact, the path, the target
// namespace and the platform (fixed for the process). It also keeps each Sync's
// renderers.Cache, so a new revision renders anew only what it changed.
type renderCache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]renderEntry
}

type renderEntry struct {
	key    string
	result *renderers.Result
	err    error
	cache  *renderers.Cache
}

func (c *renderCache) render(sync types.NamespacedName, a *Artifact, spec gitopsv1.SyncSpec, p *gitopsv1.Platform) (*renderers.Result, error) {
	dir := spec.SourcePath()
	key := a.Digest + "\x00" + dir + "\x00" + spec.TargetNamespace
	c.mu.Lock()
	e, ok := c.entries[sync]
	if ok && e.key == key {
		c.mu.Unlock()
		return e.result, e.err
	}
	cache := e.cache
	if cache == nil {
		cache = &renderers.Cache{}
	}
	c.mu.Unlock()

	root, err := os.OpenRoot(a.Dir)
	if err != nil {
		// Not cached: the next reconcile retries, with the source's next artifact.
		return nil, fmt.Errorf("%w: %v", errArtifactGone, err)
	}
	defer root.Close()
	res, err := renderers.Render(root.FS(), dir, renderers.Options{Platform: p, Namespace: spec.TargetNamespace, Cache: cache})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.NamespacedName]renderEntry{}
	}
	c.entries[sync] = renderEntry{key: key, result: res, err: err, cache: cache}
	return res, err
}

func (c *renderCache) forget(sync types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, sync)
}
