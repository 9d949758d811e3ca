package kustomize

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	kustypes "sigs.k8s.io/kustomize/api/types"

	"github.com/trustsync/trustsync/manifest"
)

// node is one kustomization reachable from the build path.
type node struct {
	file string
	// dirs are the local directories it builds on (resources and components).
	dirs []string
	// resources in order, for a plain kustomization's split build.
	resources []resourceRef
	// plain is true when it only lists resources (files, and directories that have a
	// kustomization) and changes nothing: its build is the concatenation of theirs.
	plain bool
	// renames is true when it may change object names (prefixes, generators with hash
	// suffixes, transformers, replacements, name patches).
	renames bool
	// movesNamespace is true when it sets the namespace of what it builds.
	movesNamespace bool
	// listNamespace, when set, is the namespace of a kustomization that lists files and
	// sets their namespace, nothing else: it is built without a kustomize run
	// (build).
	listNamespace string
}

// resourceRef is one resources entry, tree-relative.
type resourceRef struct {
	path string
	dir  bool
}

// graph holds the kustomizations reachable from the build path, by directory.
type graph map[string]*node

// scan checks every kustomization reachable from dir (kustomization.go) and records how
// they build on each other. It reports every problem of every kustomization at once.
func scan(t *tree, dir string) (graph, error) {
	var errs []error
	g := graph{}
	// onPath are the kustomizations from dir down to the one being visited: one that
	// builds on one of them is a cycle, which kustomize refuses and the split build
	// would follow forever.
	onPath := map[string]bool{}
	var visit func(from, dir string)
	visit = func(from, dir string) {
		if onPath[dir] {
			errs = append(errs, fmt.Errorf("%s: builds on %q, which builds on it: kustomizations may not form a cycle", from, dir))
			return
		}
		if _, seen := g[dir]; seen {
			return
		}
		g[dir] = nil
		name, ok := kustomizationFile(t, dir)
		if !ok {
			return
		}
		doc, err := t.kustomization(virtual(path.Join(dir, name)))
		if err != nil {
			errs = append(errs, err)
			t.takeViolations()
			return
		}
		n := &node{file: doc.file, dirs: doc.dirs, renames: mayRename(t, path.Dir(doc.file), &doc.k), movesNamespace: doc.k.Namespace != ""}
		g[dir] = n
		plain := len(doc.k.Resources) > 0 && onlyResources(doc.k)
		for _, r := range doc.k.Resources {
			p := path.Join(path.Dir(doc.file), r)
			isDir := t.IsDir(virtual(p))
			if isDir {
				if real, err := t.real(virtual(p)); err == nil {
					p = real
				}
				if _, ok := kustomizationFile(t, p); !ok {
					plain = false
				}
			}
			n.resources = append(n.resources, resourceRef{path: p, dir: isDir})
		}
		n.plain = plain
		n.listNamespace = namespaceListOf(doc.k, n.resources)
		onPath[dir] = true
		for _, d := range doc.dirs {
			if real, err := t.real(virtual(d)); err == nil {
				d = real
			}
			visit(doc.file, d)
		}
		delete(onPath, dir)
		t.takeViolations()
	}
	visit(dir, dir)
	return g, errors.Join(errs...)
}

// namespaceListOf returns the namespace of a kustomization that does nothing but list
// files and set their namespace; "" for any other.
func namespaceListOf(k kustypes.Kustomization, resources []resourceRef) string {
	ns := k.Namespace
	if ns == "" || len(k.Resources) == 0 || slices.ContainsFunc(resources, func(r resourceRef) bool { return r.dir }) {
		return ""
	}
	k.Namespace = ""
	if !onlyResources(k) {
		return ""
	}
	return ns
}

// onlyResources reports whether a kustomization does nothing but list resources.
func onlyResources(k kustypes.Kustomization) bool {
	k.TypeMeta, k.MetaData, k.Resources = kustypes.TypeMeta{}, nil, nil
	return reflect.DeepEqual(k, kustypes.Kustomization{})
}

// mayRename reports whether a kustomization can change object names. A reference to a
// renamed object from a sibling subtree is only fixed by kustomize at their common
// parent, so subtrees with renames are never built apart.
func mayRename(t *tree, dir string, k *kustypes.Kustomization) bool {
	if k.NamePrefix != "" || k.NameSuffix != "" || len(k.ConfigMapGenerator) > 0 || len(k.SecretGenerator) > 0 ||
		len(k.Generators) > 0 || len(k.Transformers) > 0 || len(k.Replacements) > 0 ||
		len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 {
		return true
	}
	for _, p := range k.Patches {
		text := p.Patch
		if p.Path != "" {
			data, err := t.ReadFile(virtual(path.Join(dir, p.Path)))
			if err != nil {
				return true
			}
			text = string(data)
		}
		if strings.Contains(text, "/metadata/name") {
			return true
		}
	}
	return false
}

// renamesBelow reports whether dir or anything it builds on may rename objects.
func (g graph) renamesBelow(dir string) bool {
	return g.anyBelow(dir, func(n *node) bool { return n.renames })
}

// movesNamespaceBelow reports whether dir or anything it builds on sets a namespace.
func (g graph) movesNamespaceBelow(dir string) bool {
	return g.anyBelow(dir, func(n *node) bool { return n.movesNamespace })
}

// anyBelow reports whether is holds for dir's kustomization or one it builds on.
func (g graph) anyBelow(dir string, is func(*node) bool) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(d string) bool {
		if seen[d] {
			return false
		}
		seen[d] = true
		k := g[d]
		if k == nil {
			return false
		}
		if is(k) {
			return true
		}
		for _, r := range k.resources {
			if r.dir && walk(r.path) {
				return true
			}
		}
		for _, c := range k.dirs {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(dir)
}

// namespacedReferrers are the kinds whose references kustomize's name-reference
// transformer gives a referral's new namespace (a reference with a name and a namespace:
// RoleBinding subjects, webhook services, … in kustomize's namereference.go). When a
// build below moves objects to a namespace, such a reference in another part is only
// fixed at their common parent, so a build holding one is not split.
var namespacedReferrers = map[string]bool{
	"RoleBinding":                    true,
	"ClusterRoleBinding":             true,
	"ValidatingWebhookConfiguration": true,
	"MutatingWebhookConfiguration":   true,
	"Node":                           true,
	"StorageClass":                   true,
}

// holdsNamespacedReferrer reports whether objs has an object of a namespacedReferrers kind.
func holdsNamespacedReferrer(objs []*manifest.Object) bool {
	return slices.ContainsFunc(objs, func(o *manifest.Object) bool { return namespacedReferrers[o.GetKind()] })
}
