package kustomize

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"strings"

	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// kustomization is one kustomization reachable from the build path.
type kustomization struct {
	file string
	// dirs are the local directories it builds on (resources and components).
	dirs []string
	// aggregator is true when it only lists directories as resources and changes
	// nothing: its build is the concatenation of theirs.
	aggregator bool
	// renames is true when it may change object names (prefixes, generators with hash
	// suffixes, transformers, replacements, name patches).
	renames bool
}

// graph holds the kustomizations reachable from the build path, by directory.
type graph map[string]*kustomization

// scan walks the kustomizations reachable from dir. It refuses references that leave
// the source tree and, unless allowed, references to remote bases or files: with remote
// inputs a revision would no longer be determined by its commit alone.
func scan(t *tree, dir string, allowRemote bool) (graph, error) {
	var errs []error
	g := graph{}
	var visit func(dir string)
	visit = func(dir string) {
		if _, seen := g[dir]; seen {
			return
		}
		g[dir] = nil
		name, ok := kustomizationFile(t, dir)
		if !ok {
			return
		}
		file := path.Join(dir, name)
		data, err := t.ReadFile(virtual(file))
		if err != nil {
			return // kustomize reports it
		}
		var k kustypes.Kustomization
		if err := yaml.Unmarshal(data, &k); err != nil {
			return // kustomize reports it with more context
		}
		k.FixKustomization()
		node := &kustomization{file: file, renames: mayRename(t, dir, &k)}
		g[dir] = node
		allDirs := true
		for _, ref := range references(&k) {
			local := path.Join(dir, ref)
			switch {
			case isRemote(ref):
				allDirs = false
				if !allowRemote {
					errs = append(errs, fmt.Errorf("%s: refers to remote %q: remote bases are refused (allow them with the platform setting kustomize.allowRemoteBases)", file, ref))
				}
			case path.IsAbs(ref) || local == ".." || strings.HasPrefix(local, "../"):
				errs = append(errs, fmt.Errorf("%s: refers to %q, which is %w", file, ref, errOutsideTree))
			case t.IsDir(virtual(local)):
				node.dirs = append(node.dirs, local)
				if _, ok := kustomizationFile(t, local); !ok {
					allDirs = false
				}
				visit(local)
			case t.Exists(virtual(local)):
				allDirs = false
			default:
				if v := t.takeViolations(); len(v) > 0 {
					errs = append(errs, v...) // a link out of the tree, not a missing file
				} else {
					errs = append(errs, fmt.Errorf("%s: refers to %q, which does not exist", file, ref))
				}
			}
		}
		node.aggregator = allDirs && len(k.Resources) > 0 && onlyResources(k)
	}
	visit(dir)
	if len(errs) == 0 {
		t.takeViolations() // nothing failed, so no probe needs explaining later
	}
	return g, errors.Join(errs...)
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
		if k.renames {
			return true
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

// references lists every entry of a kustomization that kustomize may load from a path
// or URL; inline documents are left out.
func references(k *kustypes.Kustomization) []string {
	var refs []string
	for _, group := range [][]string{k.Resources, k.Components, k.Crds, k.Configurations, k.Generators, k.Transformers, k.Validators} {
		for _, r := range group {
			if !strings.Contains(r, "\n") {
				refs = append(refs, r)
			}
		}
	}
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") {
			refs = append(refs, string(p))
		}
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			refs = append(refs, p.Path)
		}
	}
	for _, r := range k.Replacements {
		if r.Path != "" {
			refs = append(refs, r.Path)
		}
	}
	if p, ok := k.OpenAPI["path"]; ok {
		refs = append(refs, p)
	}
	return refs
}

// isRemote recognises what kustomize would fetch: URLs with a scheme, scp-like git
// addresses, and host-qualified paths such as github.com/org/repo.
func isRemote(ref string) bool {
	if strings.Contains(ref, "\n") || strings.Contains(ref, " ") {
		return false // an inline document
	}
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" {
		return true
	}
	if strings.HasPrefix(ref, "git@") || strings.Contains(ref, "?ref=") || strings.Contains(ref, "//") {
		return true
	}
	first, _, _ := strings.Cut(ref, "/")
	return first != "." && first != ".." && strings.Contains(first, ".") && strings.Contains(ref, "/")
}
