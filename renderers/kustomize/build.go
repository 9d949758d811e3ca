package kustomize

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/renderers/manifest"
)

// Options configure a build.
type Options struct {
	// AllowRemoteBases lets kustomizations reference remote bases and resources.
	AllowRemoteBases bool
	// Namespace, when set, is given to every namespaced object, as kustomize's
	// namespace field does (Flux's targetNamespace).
	Namespace string
}

// originAnnotation is where kustomize records the file each object came from.
const originAnnotation = "config.kubernetes.io/origin"

// splitAggregators turns on building aggregating kustomizations part by part; tests turn
// it off to compare with kustomize's own result.
var splitAggregators = true

// buildMu serialises builds: kustomize keeps global state (the OpenAPI schema and kyaml
// caches) that is not safe for concurrent builds.
var buildMu sync.Mutex

// Build runs kustomize on dir, a slash-separated path inside fsys, and returns the
// objects with the file each came from. dir must stay inside the tree.
func Build(fsys fs.FS, dir string, opts Options) ([]*manifest.Object, error) {
	dir = path.Clean(strings.TrimPrefix(dir, "./"))
	if dir == "" || path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
		return nil, fmt.Errorf("path %q is %w", dir, errOutsideTree)
	}
	t := newTree(fsys)
	if !t.IsDir(dir) {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, fmt.Errorf("path %q: no such directory in the source tree", dir)
	}

	g, err := scan(t, dir, opts.AllowRemoteBases)
	if err != nil {
		return nil, err
	}
	if opts.Namespace != "" {
		// The namespace applies to the whole build, so the root is built whole.
		return runKustomize(t, dir, opts.Namespace)
	}
	return build(t, g, dir)
}

// build builds one directory. A kustomization that only aggregates directories is built
// as the concatenation of its parts when nothing below it renames objects: the result is
// the same, and it avoids kustomize's cost, which grows with the square of the number of
// objects in one build.
func build(t *tree, g graph, dir string) ([]*manifest.Object, error) {
	if k := g[dir]; splitAggregators && k != nil && k.aggregator && !g.renamesBelow(dir) {
		var all []*manifest.Object
		from := map[manifest.Ref]string{}
		for _, child := range k.dirs {
			objs, err := build(t, g, child)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				if other, dup := from[o.Ref()]; dup {
					return nil, fmt.Errorf("%s: %s is built twice, from %s and %s", k.file, o.Ref(), other, child)
				}
				from[o.Ref()] = child
			}
			all = append(all, objs...)
		}
		return all, nil
	}
	return runKustomize(t, dir, "")
}

// runKustomize runs one kustomize build of dir, setting namespace when given.
func runKustomize(t *tree, dir, namespace string) ([]*manifest.Object, error) {
	userOrigins, err := prepareRoot(t, dir, namespace)
	if err != nil {
		return nil, err
	}

	buildMu.Lock()
	k := krusty.MakeKustomizer(&krusty.Options{
		LoadRestrictions: kustypes.LoadRestrictionsNone, // the tree itself is the boundary
		PluginConfig:     kustypes.DisabledPluginConfig(),
	})
	resMap, err := k.Run(t, virtual(dir))
	buildMu.Unlock()
	if err != nil {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, fmt.Errorf("kustomize build of %s: %s", dir, strings.ReplaceAll(err.Error(), treeRoot+"/", ""))
	}

	objs := make([]*manifest.Object, 0, resMap.Size())
	for _, r := range resMap.Resources() {
		o, err := toObject(r, dir, userOrigins)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// prepareRoot makes sure dir has a kustomization with origin tracking on, generating one
// when dir has none, and sets its namespace when given. It reports whether the user asked
// for origin annotations themselves (then they stay in the output).
func prepareRoot(t *tree, dir, namespace string) (userOrigins bool, err error) {
	name, ok := kustomizationFile(t, dir)
	if !ok {
		data, err := generateKustomization(t, dir, namespace)
		if err != nil {
			return false, err
		}
		t.overlay[path.Join(dir, konfig.DefaultKustomizationFileName())] = data
		return false, nil
	}
	file := path.Join(dir, name)
	data, err := t.ReadFile(virtual(file))
	if err != nil {
		return false, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false, fmt.Errorf("%s: %w", file, err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if namespace != "" {
		doc["namespace"] = namespace
	}
	metadata, _ := doc["buildMetadata"].([]any)
	userOrigins = slices.Contains(metadata, any(kustypes.OriginAnnotations))
	if userOrigins && namespace == "" {
		return true, nil
	}
	if !userOrigins {
		doc["buildMetadata"] = append(metadata, kustypes.OriginAnnotations)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return false, err
	}
	t.overlay[file] = out
	return userOrigins, nil
}

// kustomizationFile returns the name of the kustomization file in dir, if any.
func kustomizationFile(t *tree, dir string) (string, bool) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if t.Exists(virtual(path.Join(dir, name))) {
			return name, true
		}
	}
	return "", false
}

// toObject converts a kustomize resource and works out the file it came from.
func toObject(r *resource.Resource, dir string, keepOrigin bool) (*manifest.Object, error) {
	source := ""
	if origin, err := r.GetOrigin(); err == nil && origin != nil {
		switch {
		case origin.Repo != "":
			source = origin.Repo + "//" + origin.Path
		case origin.Path != "":
			source = path.Join(dir, origin.Path)
		case origin.ConfiguredIn != "":
			source = path.Join(dir, origin.ConfiguredIn)
		}
	}
	data, err := r.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.CurId(), err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%s: %w", r.CurId(), err)
	}
	if !keepOrigin {
		removeAnnotation(u, originAnnotation)
	}
	// kyaml's internal bookkeeping must never reach the cluster.
	removeAnnotation(u, kioutil.LegacyPathAnnotation, kioutil.LegacyIndexAnnotation, kioutil.PathAnnotation, kioutil.IndexAnnotation, kioutil.LegacyIdAnnotation, kioutil.IdAnnotation)
	return manifest.New(u, source), nil
}

func removeAnnotation(u *unstructured.Unstructured, keys ...string) {
	a := u.GetAnnotations()
	if a == nil {
		return
	}
	for _, k := range keys {
		delete(a, k)
	}
	if len(a) == 0 {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations")
		return
	}
	u.SetAnnotations(a)
}
