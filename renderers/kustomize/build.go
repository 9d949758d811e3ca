package kustomize

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	nsfilter "sigs.k8s.io/kustomize/api/filters/namespace"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/manifest"
)

// Options configure a build.
type Options struct {
	// Namespace, when set, is given to every namespaced object, as kustomize's
	// namespace field does (Flux's targetNamespace).
	Namespace string
	// Limits bound the build; zero fields take their defaults.
	Limits Limits
	// Cache, when set, keeps kustomize runs for the next builds (see Cache).
	Cache *Cache
}

// originAnnotation is where kustomize records the file each object came from.
const originAnnotation = "config.kubernetes.io/origin"

// splitAggregators turns on building aggregating kustomizations part by part; tests turn
// it off to compare with kustomize's own result.
var splitAggregators = true

// buildMu serialises builds: kustomize keeps global state (the OpenAPI schema and kyaml
// caches) that is not safe for concurrent builds.
var buildMu sync.Mutex

// defaultOpenAPI is how kustomize names the schema it uses by itself.
var defaultOpenAPI = openapi.GetSchemaVersion()

// forgetOpenAPI puts kustomize's global OpenAPI schema back to its own after a run that
// set a repository's (the kustomization field openapi): kustomize keeps it past the run,
// and it would decide which kinds are namespaced in the next repository's build. Called
// with buildMu held.
func forgetOpenAPI() {
	if openapi.GetSchemaVersion() != defaultOpenAPI {
		openapi.ResetOpenAPI()
	}
}

// Build runs kustomize on dir, a slash-separated path inside fsys, and returns the
// objects with the file each came from. dir must stay inside the tree.
func Build(fsys fs.FS, dir string, opts Options) ([]*manifest.Object, error) {
	dir = path.Clean(strings.TrimPrefix(dir, "./"))
	if dir == "" || path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
		return nil, fmt.Errorf("path %q is %w", dir, errOutsideTree)
	}
	t := newTree(fsys, opts.Limits)
	t.cache = opts.Cache
	if !t.IsDir(virtual(dir)) {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, fmt.Errorf("path %q: no such directory in the source tree", dir)
	}
	if real, err := t.real(virtual(dir)); err == nil {
		dir = real
	}
	if _, ok := kustomizationFile(t, dir); !ok {
		data, err := generateKustomization(t, dir)
		if t.exceeded != nil {
			return nil, t.exceeded
		}
		if err != nil {
			return nil, err
		}
		t.prepare(path.Join(dir, konfig.DefaultKustomizationFileName()), data)
	}

	// scan's errors name the kustomization and field, also for an exceeded limit.
	g, err := scan(t, dir)
	if err != nil {
		return nil, err
	}
	if t.exceeded != nil {
		return nil, t.exceeded
	}
	var objs []*manifest.Object
	if opts.Namespace != "" {
		// The namespace applies to the whole build, so the root is built whole.
		objs, err = runKustomize(t, dir, opts.Namespace)
	} else {
		objs, err = build(t, g, dir)
	}
	if t.exceeded != nil {
		return nil, t.exceeded
	}
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, emptyBuild(t, dir)
	}
	return objs, nil
}

// emptyBuild explains a build that yields nothing: with prune, applying it would delete
// every object of the previous revision.
func emptyBuild(t *tree, dir string) error {
	name, ok := kustomizationFile(t, dir)
	if !ok {
		return fmt.Errorf("path %q: the build yields no objects", dir)
	}
	return fmt.Errorf("%s: the build yields no objects; an empty revision would prune everything the last one applied (list the manifests under resources)", path.Join(dir, name))
}

// build builds one directory. A kustomization that only lists resources is built as the
// concatenation of its parts when nothing below it renames objects: its files are read
// as kustomize reads them and its directories built the same way. So is one that lists
// files and sets their namespace, each object given it by kustomize's own namespace
// filter (the transformer sets it object by object; readResources), each file's objects
// kept by content for the next render. The result is the same, and it avoids kustomize's
// cost, which grows with the square of the number of objects in one build. Where a part
// moves objects to a namespace and another holds a reference kustomize would follow
// them with (namespacedReferrers), the whole is built by kustomize.
func build(t *tree, g graph, dir string) ([]*manifest.Object, error) {
	k := g[dir]
	if !splitAggregators || k == nil || (k.listNamespace == "" && (!k.plain || g.renamesBelow(dir))) {
		return runKustomize(t, dir, "")
	}
	var all []*manifest.Object
	from := map[manifest.Ref]string{}
	for _, res := range k.resources {
		var objs []*manifest.Object
		var err error
		if res.dir {
			objs, err = build(t, g, res.path)
		} else {
			objs, err = readResources(t, res.path, k.listNamespace)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if other, dup := from[o.Ref()]; dup {
				return nil, fmt.Errorf("%s: %s is built twice, from %s and %s", k.file, o.Ref(), other, res.path)
			}
			from[o.Ref()] = res.path
		}
		all = append(all, objs...)
	}
	if g.movesNamespaceBelow(dir) && holdsNamespacedReferrer(all) {
		return runKustomize(t, dir, "")
	}
	// kustomize drops local configuration after it took in the resources (IgnoreLocal).
	return slices.DeleteFunc(all, localConfig), nil
}

// localConfig reports an object kustomize leaves out of its output: one annotated
// config.kubernetes.io/local-config with any value but "false".
func localConfig(o *manifest.Object) bool {
	v, ok := o.GetAnnotations()[konfig.IgnoredByKustomizeAnnotation]
	return ok && v != "false"
}

// namespaceFieldSpecs are the fields kustomize's namespace transformer sets besides
// metadata.namespace, as kustomize's builtin configuration has them
// (api/internal/konfig/builtinpluginconsts/namespace.go); TestNamespaceListMatchesKustomize
// holds them to kustomize's output.
var namespaceFieldSpecs = kustypes.FsSlice{
	{Gvk: resid.Gvk{Kind: "Namespace"}, Path: "metadata/name", CreateIfNotPresent: true},
	{Gvk: resid.Gvk{Group: "apiregistration.k8s.io", Kind: "APIService"}, Path: "spec/service/namespace", CreateIfNotPresent: true},
	{Gvk: resid.Gvk{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, Path: "spec/conversion/webhook/clientConfig/service/namespace"},
}

// readResources reads the objects of one resource file the way kustomize does (lists
// inlined), without a kustomize run, and with a namespace gives them it as kustomize's
// namespace transformer does.
func readResources(t *tree, file, namespace string) ([]*manifest.Object, error) {
	data, err := t.ReadFile(virtual(file))
	if err != nil {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, err
	}
	var key listedKey
	keep := namespace != "" && t.cache != nil
	if keep {
		key = listedKey{content: sha256.Sum256(data), namespace: namespace}
		if objs, ok := t.cache.listedObjects(key); ok {
			for _, o := range objs {
				o.Source = file
			}
			return objs, nil
		}
	}
	resources, err := resourceFactory().SliceFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, err)
	}
	if namespace != "" {
		if resources, err = setNamespace(resources, namespace); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	objs := make([]*manifest.Object, 0, len(resources))
	for _, r := range resources {
		o, err := toObject(r, "", false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		o.Source = file
		objs = append(objs, o)
	}
	if keep {
		t.cache.keepListed(key, objs)
	}
	return objs, nil
}

// setNamespace is kustomize's namespace transformer on one file's resources: empty
// ones dropped, Helm's output left alone, the rest filtered. The filter asks kustomize's
// global OpenAPI schema which kinds are namespaced, so it runs under buildMu, where no
// repository's own schema is set (forgetOpenAPI).
func setNamespace(resources []*resource.Resource, namespace string) ([]*resource.Resource, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	out := resources[:0]
	for _, r := range resources {
		if r.IsNilOrEmpty() {
			continue
		}
		if r.GetAnnotations(konfig.HelmGeneratedAnnotation)[konfig.HelmGeneratedAnnotation] != "true" {
			if err := r.ApplyFilter(nsfilter.Filter{Namespace: namespace, FsSlice: namespaceFieldSpecs}); err != nil {
				return nil, fmt.Errorf("%s: %w", r.CurId(), err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// runKustomize runs one kustomize build of dir, setting namespace when given.
func runKustomize(t *tree, dir, namespace string) ([]*manifest.Object, error) {
	userOrigins, err := prepareRoot(t, dir, namespace)
	if err != nil {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, err
	}

	key := runKey{dir: dir, namespace: namespace}
	if objs, ok := t.cache.lookup(t, key); ok {
		return objs, nil
	}
	if t.exceeded != nil {
		return nil, t.exceeded
	}
	t.runObjects, t.inKustomize = 0, true
	if t.cache != nil {
		t.journal = &journal{}
	}
	defer func() { t.inKustomize, t.journal = false, nil }()
	buildMu.Lock()
	k := krusty.MakeKustomizer(&krusty.Options{
		LoadRestrictions: kustypes.LoadRestrictionsNone, // the tree itself is the boundary
		PluginConfig:     kustypes.DisabledPluginConfig(),
	})
	resMap, err := k.Run(t, virtual(dir))
	forgetOpenAPI()
	buildMu.Unlock()
	if err != nil {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, kustomizeError(dir, err)
	}

	objs := make([]*manifest.Object, 0, resMap.Size())
	for _, r := range resMap.Resources() {
		o, err := toObject(r, dir, userOrigins)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	if t.journal != nil {
		t.cache.store(key, t.journal.queries, objs)
	}
	return objs, nil
}

// prepareRoot makes sure dir has a kustomization with origin tracking on, generating one
// when dir has none, and sets its namespace when given. It reports whether the user asked
// for origin annotations themselves (then they stay in the output).
func prepareRoot(t *tree, dir, namespace string) (userOrigins bool, err error) {
	name, ok := kustomizationFile(t, dir)
	if !ok {
		return false, fmt.Errorf("path %q: no kustomization", dir)
	}
	file := path.Join(dir, name)
	doc, err := t.kustomization(virtual(file))
	if err != nil {
		return false, err
	}
	k := doc.k
	if namespace != "" {
		k.Namespace = namespace
	}
	userOrigins = slices.Contains(k.BuildMetadata, kustypes.OriginAnnotations)
	if userOrigins && namespace == "" {
		return true, nil
	}
	if !userOrigins {
		k.BuildMetadata = append(slices.Clone(k.BuildMetadata), kustypes.OriginAnnotations)
	}
	out, err := yaml.Marshal(&k)
	if err != nil {
		return false, err
	}
	// The copy refers to what the checked kustomization does, so it is taken as checked
	// rather than checked again at every run (a replay reads it too).
	t.prepareChecked(file, &kustomizationDoc{file: doc.file, k: k, data: out, dirs: doc.dirs, listsFiles: doc.listsFiles})
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
	if origin, err := r.GetOrigin(); err == nil && origin != nil && dir != "" {
		switch {
		case origin.Repo != "":
			source = origin.Repo + "//" + origin.Path
		case origin.Path != "":
			source = path.Join(dir, origin.Path)
		case origin.ConfiguredIn != "":
			source = path.Join(dir, origin.ConfiguredIn)
		}
	}
	u := &unstructured.Unstructured{}
	if m, ok := objectOf(r.YNode()); ok {
		u.Object = m
	} else {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
	}
	if !keepOrigin {
		removeAnnotation(u, originAnnotation)
	}
	// kyaml's and kustomize's bookkeeping must never reach the cluster; kustomize takes
	// it out of a build's output (its build annotations), and so does a build without a
	// kustomize run.
	removeAnnotation(u, resource.BuildAnnotations...)
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

// resourceFactory parses resources the way kustomize does.
func resourceFactory() *resource.Factory {
	return provider.NewDefaultDepProvider().GetResourceFactory()
}

// kustomizeError words a failed kustomize run for people: paths relative to the tree and
// kustomize's nesting of wrapped errors cut to its cause, with the build it happened in.
func kustomizeError(dir string, err error) error {
	msg := strings.ReplaceAll(err.Error(), treeRoot+"/", "")
	msg = strings.ReplaceAll(msg, treeRoot, ".")
	// kustomize repeats "accumulating resources: accumulation err='…'" per level.
	if i := strings.LastIndex(msg, "err='"); i >= 0 {
		inner := strings.TrimSuffix(strings.TrimRight(msg[i+len("err='"):], "'"), "'")
		if inner != "" {
			msg = inner
		}
	}
	// A duplicate object ends in kustomize's retry of the file as a directory.
	const dup = "may not add resource with an already registered id: "
	if i := strings.Index(msg, dup); i >= 0 {
		id, _, _ := strings.Cut(msg[i+len(dup):], "'")
		file := ""
		if j := strings.LastIndex(msg[:i], "merging resources from '"); j >= 0 {
			file, _, _ = strings.Cut(msg[j+len("merging resources from '"):], "'")
		}
		msg = fmt.Sprintf("%s is given twice (again in %s)", readableID(id), strings.TrimPrefix(file, "./"))
	}
	return fmt.Errorf("kustomize build of %s: %s", dir, msg)
}

// readableID turns kustomize's "ConfigMap.v1.[noGrp]/a.x" into "ConfigMap x/a".
func readableID(id string) string {
	if !strings.Contains(id, "/") {
		return id
	}
	r := resid.FromString(id)
	if r.Name == "" {
		return id
	}
	if r.Namespace == "" || r.Namespace == resid.DefaultNamespace {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}
