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

// renderCache keeps each Sync's last render (one per member cluster of a fleet Sync), so
// a reconcile with nothing new in Git does not render again: the render is a pure
// function of the artifact, the directory, the target namespace and the platform (the
// process's, or a member cluster's, named by its variant). It also keeps each Sync's
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

func (c *renderCache) render(sync types.NamespacedName, a *Artifact, dir, namespace string, p *gitopsv1.Platform, variant string) (*renderers.Result, error) {
	key := a.Digest + "\x00" + dir + "\x00" + namespace + "\x00" + variant
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
	res, err := renderers.Render(root.FS(), dir, renderers.Options{Platform: p, Namespace: namespace, Cache: cache})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.NamespacedName]renderEntry{}
	}
	c.entries[sync] = renderEntry{key: key, result: res, err: err, cache: cache}
	return res, err
}

// forget drops the renders of a Sync, its member clusters' too.
func (c *renderCache) forget(sync types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k == sync || isMemberKey(k, sync) {
			delete(c.entries, k)
		}
	}
}

// overlay is the directory built for a member cluster: the Sync's clusterOverlay when
// the revision has that directory, else its path.
func overlay(a *Artifact, spec gitopsv1.SyncSpec, c *gitopsv1.Cluster) (string, error) {
	dir, ok := spec.Overlay(c.Name, c.Labels)
	if !ok {
		return spec.SourcePath(), nil
	}
	root, err := os.OpenRoot(a.Dir)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errArtifactGone, err)
	}
	defer root.Close()
	if fi, err := root.Stat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	return spec.SourcePath(), nil
}
