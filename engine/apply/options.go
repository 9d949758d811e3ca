package apply

import (
	"fmt"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Options configure a Manager.
type Options struct {
	// FieldOwner is the server-side apply field manager.
	FieldOwner string
	// Labels mark the objects of this owner; they are added to every applied object, and
	// nothing without them is ever pruned.
	Labels map[string]string
	// Concurrency bounds parallel requests.
	Concurrency int
	// DriftMode: correct re-applies drifted objects, warn only reports them.
	DriftMode gitopsv1.DriftMode
	// Ignore lists fields left to others: they are not applied and never drift.
	Ignore []gitopsv1.IgnoreRule
	// PruneNamespacesAndCRDs lets prune delete Namespaces and CRDs.
	PruneNamespacesAndCRDs bool
	// CRDTimeout bounds the wait for new CRDs to be established.
	CRDTimeout time.Duration
}

// DefaultOptions returns the defaults: field manager trustsync, 8 requests in parallel,
// drift corrected, CRDs given 30 s to be established.
func DefaultOptions() Options {
	return Options{
		FieldOwner:  "trustsync",
		Concurrency: 8,
		DriftMode:   gitopsv1.DriftCorrect,
		CRDTimeout:  30 * time.Second,
	}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.FieldOwner == "" {
		o.FieldOwner = d.FieldOwner
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.DriftMode == "" {
		o.DriftMode = d.DriftMode
	}
	if o.CRDTimeout <= 0 {
		o.CRDTimeout = d.CRDTimeout
	}
}

// ignoreRule is an IgnoreRule ready to match.
type ignoreRule struct {
	paths                []string
	group, version, kind string
	name, namespace      *regexp.Regexp
	labels, annotations  labels.Selector
}

func compileIgnore(rules []gitopsv1.IgnoreRule) ([]ignoreRule, error) {
	var out []ignoreRule
	for i, r := range rules {
		c := ignoreRule{paths: r.Paths}
		for j, p := range r.Paths {
			if p == "" || p[0] != '/' {
				return nil, fmt.Errorf("spec.drift.ignore[%d].paths[%d]: %q is not a JSON pointer (RFC 6901)", i, j, p)
			}
		}
		if t := r.Target; t != nil {
			c.group, c.version, c.kind = t.Group, t.Version, t.Kind
			var err error
			if c.name, err = anchored(t.Name); err != nil {
				return nil, fmt.Errorf("spec.drift.ignore[%d].target.name: %w", i, err)
			}
			if c.namespace, err = anchored(t.Namespace); err != nil {
				return nil, fmt.Errorf("spec.drift.ignore[%d].target.namespace: %w", i, err)
			}
			if t.LabelSelector != "" {
				if c.labels, err = labels.Parse(t.LabelSelector); err != nil {
					return nil, fmt.Errorf("spec.drift.ignore[%d].target.labelSelector: %w", i, err)
				}
			}
			if t.AnnotationSelector != "" {
				if c.annotations, err = labels.Parse(t.AnnotationSelector); err != nil {
					return nil, fmt.Errorf("spec.drift.ignore[%d].target.annotationSelector: %w", i, err)
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func anchored(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

func (r ignoreRule) matches(o *manifest.Object) bool {
	gvk := o.GroupVersionKind()
	switch {
	case r.group != "" && r.group != gvk.Group,
		r.version != "" && r.version != gvk.Version,
		r.kind != "" && r.kind != gvk.Kind,
		r.name != nil && !r.name.MatchString(o.GetName()),
		r.namespace != nil && !r.namespace.MatchString(o.GetNamespace()),
		r.labels != nil && !r.labels.Matches(labels.Set(o.GetLabels())),
		r.annotations != nil && !r.annotations.Matches(labels.Set(o.GetAnnotations())):
		return false
	}
	return true
}
