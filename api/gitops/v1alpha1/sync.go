package v1alpha1

import (
	"os"
	"path"
	"strings"
	"time"
)

// SourcePath is spec.path ("./", "./apps/prod", "apps") as a path relative to the root of
// the source's tree: "." for the root, never leading "./", "/" or "..".
func (s *SyncSpec) SourcePath() string {
	p := path.Clean("/" + strings.TrimSpace(s.Path))
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

// RetryAfterFailure is how soon a failed reconcile is retried: spec.retryInterval, else
// the interval.
func (s *SyncSpec) RetryAfterFailure() time.Duration {
	if s.RetryInterval != nil {
		return s.RetryInterval.Duration
	}
	return s.Interval.Duration
}

// InventoryConfigMap names the ConfigMap, beside the Sync, that holds the objects the
// Sync owns on a member cluster: a fleet's inventories together would outgrow the
// Sync's status.
func InventoryConfigMap(sync, cluster string) string {
	return sync + "." + cluster + ".inventory"
}

// Overlay is the directory built for a member cluster: spec.clusterOverlay (default
// <path>/clusters/${cluster.name}) with the cluster's name and labels in it, relative
// to the tree's root like SourcePath. ok is false when the template names a label the
// cluster does not have.
func (s *SyncSpec) Overlay(cluster string, labels map[string]string) (dir string, ok bool) {
	tmpl := s.ClusterOverlay
	if tmpl == "" {
		tmpl = s.SourcePath() + "/clusters/${cluster.name}"
	}
	ok = true
	expanded := os.Expand(tmpl, func(v string) string {
		switch {
		case v == "cluster.name":
			return cluster
		case strings.HasPrefix(v, "cluster.labels."):
			l, found := labels[strings.TrimPrefix(v, "cluster.labels.")]
			ok = ok && found
			return l
		}
		ok = false
		return ""
	})
	if !ok {
		return "", false
	}
	return (&SyncSpec{Path: expanded}).SourcePath(), true
}
