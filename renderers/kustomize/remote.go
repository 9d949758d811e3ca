package kustomize

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// checkReferences walks the kustomizations reachable from dir and refuses references
// that leave the source tree and, unless allowed, references to remote bases or files:
// with remote inputs a revision would no longer be determined by its commit alone.
func checkReferences(t *tree, dir string, allowRemote bool) error {
	var errs []error
	seen := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
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
		for _, ref := range references(&k) {
			local := path.Join(dir, ref)
			switch {
			case isRemote(ref):
				if !allowRemote {
					errs = append(errs, fmt.Errorf("%s: refers to remote %q: remote bases are refused (allow them with the platform setting kustomize.allowRemoteBases)", file, ref))
				}
			case path.IsAbs(ref) || local == ".." || strings.HasPrefix(local, "../"):
				errs = append(errs, fmt.Errorf("%s: refers to %q, which is %w", file, ref, errOutsideTree))
			case t.IsDir(virtual(local)):
				visit(local)
			}
		}
	}
	visit(dir)
	if len(errs) == 0 {
		t.takeViolations() // probes of missing paths explain nothing yet; kustomize reports them
	}
	return errors.Join(errs...)
}

// references lists every entry of a kustomization that kustomize may load from a path
// or URL.
func references(k *kustypes.Kustomization) []string {
	refs := append([]string{}, k.Resources...)
	refs = append(refs, k.Components...)
	refs = append(refs, k.Crds...)
	refs = append(refs, k.Configurations...)
	refs = append(refs, k.Generators...)
	refs = append(refs, k.Transformers...)
	refs = append(refs, k.Validators...)
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
