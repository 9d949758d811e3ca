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
// renderers.Cache, so a new revision renders anew only what it changed; a fleet Sync's
// member clusters share their Sync's, so its kustomize runs are done once for all of
// them (the cache's keys hold what differs between platforms).
type renderCache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]renderEntry
	caches  map[types.NamespacedName]*renderers.Cache // by Sync
}

type renderEntry struct {
	key    string
	result *renderers.Result
	err    error
}

// render renders for key (a Sync, or a Sync on a member cluster), with the
// renderers.Cache of the Sync owner.
func (c *renderCache) render(key, owner types.NamespacedName, a *Artifact, dir, namespace string, p *gitopsv1.Platform, variant string) (*renderers.Result, error) {
	input := a.Digest + "\x00" + dir + "\x00" + namespace + "\x00" + variant
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && e.key == input {
		c.mu.Unlock()
		return e.result, e.err
	}
	if c.caches == nil {
		c.caches = map[types.NamespacedName]*renderers.Cache{}
	}
	cache := c.caches[owner]
	if cache == nil {
		cache = &renderers.Cache{}
		c.caches[owner] = cache
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
	c.entries[key] = renderEntry{key: input, result: res, err: err}
	return res, err
}

// forget drops the renders of a Sync, its member clusters' too.
func (c *renderCache) forget(sync types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	forgetKeys(c.entries, sync)
	delete(c.caches, sync)
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
