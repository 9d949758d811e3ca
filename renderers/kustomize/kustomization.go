package kustomize

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// A kustomization is checked before kustomize sees it, and kustomize sees only the
// checked copy: every path in it is rewritten to start with "./" or "../", after it was
// found in the tree. kustomize reads such a string as a local path, never as a URL, a
// git address or a GitHub shorthand — so whatever a repository writes, the build cannot
// fetch anything or run git. What cannot be checked before the build (Helm charts, which
// run a program; generators built from a directory, whose output would configure plugins;
// plugins and KRM functions) is refused.

// kustomizationDoc is one checked kustomization.
type kustomizationDoc struct {
	file string // tree-relative path
	k    kustypes.Kustomization
	// data is the checked copy kustomize reads.
	data []byte
	// dirs are the local directories it builds on (resources and components).
	dirs []string
	// listsFiles is true when a resource is a file.
	listsFiles bool
}

// refKind is what a reference must name.
type refKind int

const (
	refFile refKind = iota
	refDir
	refFileOrDir
)

// checker collects the problems of one kustomization.
type checker struct {
	t    *tree
	file string // the kustomization, tree-relative
	dir  string // its directory: references are relative to it
	errs []error
	// dirs and listsFiles describe the references found.
	dirs       []string
	listsFiles bool
}

func (c *checker) fail(field, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s: %s", c.file, field, fmt.Sprintf(format, args...)))
}

// checkKustomization parses and checks the kustomization file at file (tree-relative)
// and returns its checked copy.
func (t *tree) checkKustomization(file string, data []byte) (*kustomizationDoc, error) {
	if _, err := t.guard(file, data); err != nil {
		return nil, err
	}
	var k kustypes.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "invalid Kustomization: "))
	}
	c := &checker{t: t, file: file, dir: path.Dir(file)}
	c.check(&k)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	out, err := yaml.Marshal(&k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &kustomizationDoc{file: file, k: k, data: out, dirs: c.dirs, listsFiles: c.listsFiles}, nil
}

func (c *checker) check(k *kustypes.Kustomization) {
	for i, r := range k.Resources {
		k.Resources[i] = c.resource(fmt.Sprintf("resources[%d]", i), r)
	}
	for i, r := range k.Bases {
		k.Bases[i] = c.dirRef(fmt.Sprintf("bases[%d]", i), r)
	}
	for i, r := range k.Components {
		k.Components[i] = c.dirRef(fmt.Sprintf("components[%d]", i), r)
	}
	for i, r := range k.Crds {
		k.Crds[i] = c.yamlFile(fmt.Sprintf("crds[%d]", i), r)
	}
	for i, r := range k.Configurations {
		k.Configurations[i] = c.yamlFile(fmt.Sprintf("configurations[%d]", i), r)
	}
	if p, ok := k.OpenAPI["path"]; ok {
		k.OpenAPI["path"] = c.yamlFile("openapi.path", p)
	}
	for i := range k.ConfigMapGenerator {
		c.generatorArgs(fmt.Sprintf("configMapGenerator[%d]", i), &k.ConfigMapGenerator[i].GeneratorArgs)
	}
	for i := range k.SecretGenerator {
		c.generatorArgs(fmt.Sprintf("secretGenerator[%d]", i), &k.SecretGenerator[i].GeneratorArgs)
	}
	for i, p := range k.PatchesStrategicMerge {
		k.PatchesStrategicMerge[i] = kustypes.PatchStrategicMerge(c.patchStrategicMerge(fmt.Sprintf("patchesStrategicMerge[%d]", i), string(p)))
	}
	for i := range k.Patches {
		c.patch(fmt.Sprintf("patches[%d]", i), &k.Patches[i])
	}
	for i := range k.PatchesJson6902 {
		c.patch(fmt.Sprintf("patchesJson6902[%d]", i), &k.PatchesJson6902[i])
	}
	for i := range k.Replacements {
		if p := k.Replacements[i].Path; p != "" {
			k.Replacements[i].Path = c.yamlFile(fmt.Sprintf("replacements[%d].path", i), p)
		}
	}
	for field, entries := range map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators} {
		for i, e := range entries {
			entries[i] = c.pluginEntry(fmt.Sprintf("%s[%d]", field, i), e)
		}
	}
	helm := "Helm charts are not rendered: inflating one runs the helm program and may fetch the chart from the network; commit the output of helm template instead"
	if len(k.HelmCharts) > 0 {
		c.fail("helmCharts", "%s", helm)
	}
	if len(k.HelmChartInflationGenerator) > 0 {
		c.fail("helmChartInflationGenerator", "%s", helm)
	}
	if k.HelmGlobals != nil {
		c.fail("helmGlobals", "%s", helm)
	}
}

// resource checks a resources entry: a file or a directory of the tree.
func (c *checker) resource(field, ref string) string {
	canonical, isDir, ok := c.ref(field, ref, refFileOrDir)
	switch {
	case !ok:
	case isDir:
		c.dirs = append(c.dirs, path.Join(c.dir, canonical))
	default:
		c.listsFiles = true
		c.t.markYAML(path.Join(c.dir, canonical), true)
	}
	return canonical
}

func (c *checker) dirRef(field, ref string) string {
	canonical, _, ok := c.ref(field, ref, refDir)
	if ok {
		c.dirs = append(c.dirs, path.Join(c.dir, canonical))
	}
	return canonical
}

// yamlFile checks a reference to a file kustomize parses as YAML.
func (c *checker) yamlFile(field, ref string) string {
	canonical, _, ok := c.ref(field, ref, refFile)
	if ok {
		c.t.markYAML(path.Join(c.dir, canonical), false)
	}
	return canonical
}

// dataFile checks a reference to a file kustomize reads as data (generator sources).
func (c *checker) dataFile(field, ref string) string {
	canonical, _, _ := c.ref(field, ref, refFile)
	return canonical
}

// generatorArgs checks the files and env files of a ConfigMap or Secret generator.
func (c *checker) generatorArgs(field string, g *kustypes.GeneratorArgs) {
	for i, f := range g.FileSources {
		g.FileSources[i] = c.fileSource(fmt.Sprintf("%s.files[%d]", field, i), f)
	}
	for i, f := range g.EnvSources {
		g.EnvSources[i] = c.dataFile(fmt.Sprintf("%s.envs[%d]", field, i), f)
	}
	if g.EnvSource != "" {
		g.EnvSource = c.dataFile(field+".env", g.EnvSource)
	}
}

// fileSource checks a generator's "[key=]path" entry the way kustomize splits it.
func (c *checker) fileSource(field, source string) string {
	key, p, keyed := strings.Cut(source, "=")
	if !keyed {
		return c.dataFile(field, source)
	}
	return key + "=" + c.dataFile(field, p)
}

// patchStrategicMerge checks an entry that is either an inline patch or a file.
func (c *checker) patchStrategicMerge(field, entry string) string {
	if !inlineDocument(entry) {
		return c.yamlFile(field, entry)
	}
	if _, err := guardYAML([]byte(entry), c.t.yamlBounds()); err != nil {
		c.fail(field, "%v", err)
		return entry
	}
	var v any
	if err := yaml.Unmarshal([]byte(entry), &v); err != nil {
		c.fail(field, "not an inline patch: %v", err)
		return entry
	}
	if _, ok := v.(map[string]any); !ok {
		c.fail(field, "neither a file of the tree nor an inline patch")
	}
	return entry
}

func (c *checker) patch(field string, p *kustypes.Patch) {
	if p.Path != "" {
		p.Path = c.yamlFile(field+".path", p.Path)
	}
	if p.Patch != "" {
		c.inline(field+".patch", p.Patch)
	}
}

// inline guards an inline YAML document of the kustomization.
func (c *checker) inline(field, doc string) {
	if _, err := guardYAML([]byte(doc), c.t.yamlBounds()); err != nil {
		c.fail(field, "%v", err)
	}
}

// pluginEntry checks a generators, transformers or validators entry: an inline plugin
// configuration or a file holding one. A directory is refused: its build's output would
// configure plugins, and what it says is only known after the build.
func (c *checker) pluginEntry(field, entry string) string {
	if inlineDocument(entry) {
		if _, err := guardYAML([]byte(entry), c.t.yamlBounds()); err != nil {
			c.fail(field, "%v", err)
			return entry
		}
		rm, err := pluginFactory().NewResMapFromBytes([]byte(entry))
		if err != nil {
			c.fail(field, "not an inline plugin configuration: %v", err)
			return entry
		}
		out, errs := checkPluginConfigs(c, field, rm)
		c.errs = append(c.errs, errs...)
		return out
	}
	canonical, isDir, ok := c.ref(field, entry, refFileOrDir)
	if !ok {
		return canonical
	}
	if isDir {
		c.fail(field, "%q is a directory: plugin configurations must be files or inline documents, so they can be checked before the build", entry)
		return canonical
	}
	file := path.Join(c.dir, canonical)
	data, err := c.t.ReadFile(virtual(file))
	if err != nil {
		c.errs = append(c.errs, err)
		return canonical
	}
	rm, err := pluginFactory().NewResMapFromBytes(data)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: not a plugin configuration: %v", file, err))
		return canonical
	}
	fc := &checker{t: c.t, file: file, dir: c.dir}
	out, errs := checkPluginConfigs(fc, "", rm)
	c.errs = append(c.errs, errs...)
	// The checked copy is what kustomize reads. Paths in it are relative to the
	// kustomization, and the rewrite only prefixes them, so a file two kustomizations
	// share reads the same for both.
	c.t.setOverlay(file, []byte(out))
	return canonical
}

// builtinPathFields are the fields of kustomize's builtin plugins that name files, as
// kustomize's own localizer lists them (plus PatchStrategicMergeTransformer's paths).
var builtinPathFields = map[string][]string{
	"ConfigMapGenerator":             {"files", "envs", "env"},
	"SecretGenerator":                {"files", "envs", "env"},
	"PatchTransformer":               {"path"},
	"PatchJson6902Transformer":       {"path"},
	"PatchStrategicMergeTransformer": {"paths"},
	"ReplacementTransformer":         {"replacements"},
}

// checkPluginConfigs checks every plugin configuration of rm and returns them, rewritten,
// as one YAML stream. field prefixes messages about inline configurations.
func checkPluginConfigs(c *checker, field string, rm resmap.ResMap) (string, []error) {
	var errs []error
	var docs []string
	at := func(i int) string {
		if field == "" {
			return fmt.Sprintf("document %d", i+1)
		}
		return field
	}
	for i, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", c.file, at(i), err))
			continue
		}
		kind, _ := m["kind"].(string)
		name := kind + " " + r.GetName()
		switch {
		case r.GetGvk().Group != "" || r.GetGvk().Version != konfig.BuiltinPluginApiVersion:
			errs = append(errs, fmt.Errorf("%s: %s: %s is not a kustomize builtin (apiVersion %s): plugins and KRM functions do not run in a render", c.file, at(i), name, konfig.BuiltinPluginApiVersion))
			continue
		case kind == "HelmChartInflationGenerator":
			errs = append(errs, fmt.Errorf("%s: %s: %s: Helm charts are not rendered: inflating one runs the helm program and may fetch the chart from the network; commit the output of helm template instead", c.file, at(i), name))
			continue
		}
		if _, ok := r.GetAnnotations()["config.kubernetes.io/function"]; ok {
			errs = append(errs, fmt.Errorf("%s: %s: %s: KRM functions do not run in a render", c.file, at(i), name))
			continue
		}
		pc := &checker{t: c.t, file: c.file, dir: c.dir}
		prefix := at(i) + ": " + name + ": "
		for _, f := range builtinPathFields[kind] {
			pc.pluginPaths(prefix+f, f, m)
		}
		errs = append(errs, pc.errs...)
		out, err := yaml.Marshal(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", c.file, at(i), err))
			continue
		}
		docs = append(docs, string(out))
	}
	return strings.Join(docs, "---\n"), errs
}

// pluginPaths checks and rewrites one path field of a builtin plugin configuration.
func (c *checker) pluginPaths(field, key string, m map[string]any) {
	switch v := m[key].(type) {
	case nil:
	case string:
		switch key {
		case "env":
			m[key] = c.dataFile(field, v)
		case "path":
			m[key] = c.yamlFile(field, v)
		default:
			c.fail(field, "must be a list")
		}
	case []any:
		for i, e := range v {
			f := fmt.Sprintf("%s[%d]", field, i)
			switch key {
			case "files":
				s, _ := e.(string)
				v[i] = c.fileSource(f, s)
			case "envs":
				s, _ := e.(string)
				v[i] = c.dataFile(f, s)
			case "paths":
				s, _ := e.(string)
				v[i] = c.patchStrategicMerge(f, s)
			case "replacements":
				if r, ok := e.(map[string]any); ok {
					if p, ok := r["path"].(string); ok {
						r["path"] = c.yamlFile(f+".path", p)
					}
				}
			}
		}
	default:
		c.fail(field, "has an unexpected type %T", v)
	}
}

// ref checks that ref names a file or directory of the tree, relative to the
// kustomization, and returns it in the form kustomize can only read as a local path.
func (c *checker) ref(field, ref string, want refKind) (canonical string, isDir, ok bool) {
	switch {
	case ref == "":
		c.fail(field, "empty path")
		return ref, false, false
	case strings.TrimSpace(ref) != ref || strings.ContainsFunc(ref, unicode.IsControl):
		c.fail(field, "%s has white space or control characters around or in it: kustomize could read it as a remote address; a render reads only the revision's own tree", strconv.Quote(ref))
		return ref, false, false
	case path.IsAbs(ref):
		c.fail(field, "%q is an absolute path; paths are relative to the kustomization", ref)
		return ref, false, false
	}
	clean := path.Clean(ref)
	joined := path.Join(c.dir, clean)
	if joined == ".." || strings.HasPrefix(joined, "../") {
		c.fail(field, "%q is %v", ref, errOutsideTree)
		return ref, false, false
	}
	info, _, err := c.t.stat(virtual(joined))
	if err != nil {
		switch {
		case errors.Is(err, errOutsideTree):
			c.fail(field, "%q: %v", ref, err)
		case errors.Is(err, errLimit):
			c.fail(field, "%v", err)
		case remoteLooking(ref):
			c.fail(field, "%q is not a path of the tree: remote bases, URLs and git addresses are refused; a render reads only the revision's own tree", ref)
		case errors.Is(err, fs.ErrNotExist):
			c.fail(field, "%q does not exist in the tree", ref)
		default:
			c.fail(field, "%q: %v", ref, err)
		}
		return ref, false, false
	}
	isDir = info.IsDir()
	switch {
	case want == refFile && isDir:
		c.fail(field, "%q is a directory, not a file", ref)
		return ref, true, false
	case want == refDir && !isDir:
		c.fail(field, "%q is a file, not a directory with a kustomization", ref)
		return ref, false, false
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return clean, isDir, true
	}
	return "./" + clean, isDir, true
}

// inlineDocument reports whether an entry is meant as an inline YAML document rather
// than a path: it spans lines or is a flow mapping. Such an entry must then parse as what
// its field holds; it is never taken as a path.
func inlineDocument(entry string) bool {
	return strings.Contains(entry, "\n") || strings.HasPrefix(strings.TrimSpace(entry), "{")
}

// remoteLooking says whether a reference that is not in the tree looks like something
// kustomize would fetch, to word the refusal; it decides nothing.
func remoteLooking(ref string) bool {
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" {
		return true
	}
	first, _, _ := strings.Cut(ref, "/")
	return strings.Contains(ref, "@") || strings.HasPrefix(strings.ToLower(ref), "git::") ||
		strings.Contains(ref, "?ref=") || strings.Contains(ref, "//") ||
		(strings.Contains(ref, "/") && strings.Contains(first, ".") && first != "." && first != "..")
}

// pluginFactory parses plugin configurations the way kustomize does.
func pluginFactory() *resmap.Factory {
	return resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory())
}
