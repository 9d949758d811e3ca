package kustomize

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trustsync/trustsync/manifest"
)

func buildBothWays(t *testing.T, tree fstest.MapFS, dir string) (split, whole []*manifest.Object) {
	t.Helper()
	var err error
	if split, err = Build(tree, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	splitAggregators = false
	defer func() { splitAggregators = true }()
	if whole, err = Build(tree, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	return split, whole
}

func encode(t *testing.T, objs []*manifest.Object) string {
	t.Helper()
	sorted := slices.Clone(objs)
	manifest.Sort(sorted)
	var b strings.Builder
	if err := manifest.WriteYAML(&b, sorted); err != nil {
		t.Fatal(err)
	}
	for _, o := range sorted {
		b.WriteString(o.Source + "\n")
	}
	return b.String()
}

// TestAggregatorSplitMatchesKustomize: building an aggregating kustomization part by part
// gives exactly what kustomize gives for the whole, sources included.
func TestAggregatorSplitMatchesKustomize(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":         file("resources: [teams]\n"),
		"teams/kustomization.yaml":   file("resources: [a, b]\n"),
		"teams/a/kustomization.yaml": file("namespace: team-a\nresources: [cm.yaml, ../../shared]\npatches:\n- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: one}\n    data: {patched: \"yes\"}\n"),
		"teams/a/cm.yaml":            configMap("one"),
		"teams/b/kustomization.yaml": file("namespace: team-b\nresources: [cm.yaml, ../../shared]\n"),
		"teams/b/cm.yaml":            configMap("two"),
		"shared/kustomization.yaml":  file("resources: [cm.yaml]\n"),
		"shared/cm.yaml":             configMap("common"),
	}
	split, whole := buildBothWays(t, tree, ".")
	if len(split) != 4 {
		t.Fatalf("got %d objects", len(split))
	}
	if a, b := encode(t, split), encode(t, whole); a != b {
		t.Fatalf("split build differs from kustomize's:\n--- split\n%s\n--- whole\n%s", a, b)
	}
}

// TestAggregatorWithRenamesIsBuiltWhole: a generated name referenced from a sibling
// subtree is only fixed by kustomize at the common parent, so that tree is built whole.
func TestAggregatorWithRenamesIsBuiltWhole(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":        file("resources: [app, config]\n"),
		"app/kustomization.yaml":    file("resources: [deploy.yaml]\n"),
		"app/deploy.yaml":           file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i, envFrom: [{configMapRef: {name: settings}}]}]\n"),
		"config/kustomization.yaml": file("configMapGenerator:\n- name: settings\n  literals: [k=v]\n"),
	}
	objs, err := Build(tree, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var generated, referenced string
	for _, o := range objs {
		switch o.GetKind() {
		case "ConfigMap":
			generated = o.GetName()
		case "Deployment":
			referenced = encode(t, []*manifest.Object{o})
		}
	}
	if !strings.HasPrefix(generated, "settings-") || !strings.Contains(referenced, "name: "+generated) {
		t.Fatalf("the reference to %q was not fixed:\n%s", generated, referenced)
	}
}

func TestAggregatorDuplicateAcrossSubtrees(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":   file("resources: [a, b]\n"),
		"a/kustomization.yaml": file("resources: [cm.yaml]\n"),
		"a/cm.yaml":            configMap("same"),
		"b/kustomization.yaml": file("resources: [cm.yaml]\n"),
		"b/cm.yaml":            configMap("same"),
	}
	_, err := Build(tree, ".", Options{})
	if err == nil || !strings.Contains(err.Error(), "kustomization.yaml: ConfigMap same is built twice, from a and b") {
		t.Fatalf("got %v", err)
	}
	splitAggregators = false
	defer func() { splitAggregators = true }()
	if _, err := Build(tree, ".", Options{}); err == nil {
		t.Fatal("kustomize accepts the duplicate too; the split build must agree with it")
	}
}

// TestPlainListSplitMatchesKustomize: a kustomization that lists files and directories
// and changes nothing is read without a kustomize run; the objects and their sources are
// the ones kustomize gives, lists inlined, JSON and multi-document files included, and a
// generated kustomization is built the same way.
func TestPlainListSplitMatchesKustomize(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":            file("resources: [cms.yaml, list.yaml, obj.json, sub]\n"),
		"cms.yaml":                      file(strings.ReplaceAll(cm, "%s", "one") + "---\n# a comment only\n---\n" + strings.ReplaceAll(cm, "%s", "two")),
		"list.yaml":                     file("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: in-list}\n"),
		"obj.json":                      file(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json", "labels": {"a": "b"}}}`),
		"sub/kustomization.yaml":        file("namespace: sub\nresources: [cm.yaml]\n"),
		"sub/cm.yaml":                   configMap("nested"),
		"plain/a.yaml":                  configMap("plain-a"),
		"plain/deeper/b.yaml":           configMap("plain-b"),
		"plain/base/kustomization.yaml": file("resources: [c.yaml]\nnamePrefix: p-\n"),
		"plain/base/c.yaml":             configMap("c"),
	}
	for _, dir := range []string{".", "plain"} {
		split, whole := buildBothWays(t, tree, dir)
		if a, b := encode(t, split), encode(t, whole); a != b {
			t.Fatalf("%s: split build differs from kustomize's:\n--- split\n%s\n--- whole\n%s", dir, a, b)
		}
	}
	split, _ := buildBothWays(t, tree, ".")
	if len(split) != 5 {
		t.Fatalf("got %d objects, want 5", len(split))
	}
}

// TestNamespacedServiceAccountReferencedFromASibling: a subtree that moves a
// ServiceAccount to its namespace, and a RoleBinding of a sibling subtree naming it in
// its old namespace — kustomize fixes the subject at their common parent, and so must
// the split build.
func TestNamespacedServiceAccountReferencedFromASibling(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":        file("resources: [agents, access]\n"),
		"agents/kustomization.yaml": file("namespace: team-a\nresources: [sa.yaml]\n"),
		"agents/sa.yaml":            file("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: agent, namespace: staging}\n"),
		"access/kustomization.yaml": file("resources: [binding.yaml]\n"),
		"access/binding.yaml":       file("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: agent}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: agent, namespace: staging}]\n"),
	}
	split, whole := buildBothWays(t, tree, ".")
	if a, b := encode(t, split), encode(t, whole); a != b {
		t.Fatalf("split build differs from kustomize's:\n--- split\n%s\n--- whole\n%s", a, b)
	}
	if !strings.Contains(encode(t, whole), "namespace: team-a\n") {
		t.Fatalf("kustomize did not move the subject:\n%s", encode(t, whole))
	}
}

// namespaceList is a kustomization that sets a namespace on files enough to be built in
// parts: ConfigMaps, Deployments that mount a ConfigMap of another file, a Namespace
// object, a ServiceAccount already namespaced elsewhere, a List and a file of two
// documents, and extra files added by the cases.
func namespaceList(extra map[string]string) fstest.MapFS {
	tree := fstest.MapFS{}
	var resources []string
	add := func(name, content string) {
		tree["team/"+name] = file(content)
		resources = append(resources, name)
	}
	for i := range 40 {
		add(fmt.Sprintf("cm-%02d.yaml", i), strings.ReplaceAll(cm, "%s", fmt.Sprintf("cm-%02d", i)))
	}
	for i := range 6 {
		add(fmt.Sprintf("deploy-%d.yaml", i), fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d%d}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      serviceAccountName: agent\n      containers: [{name: c, image: i}]\n      volumes: [{name: v, configMap: {name: cm-%02d}}]\n", i, 39-i))
	}
	add("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: whatever}\n")
	add("sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: agent, namespace: elsewhere}\n")
	add("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: listed}}\n")
	add("two.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s1}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s2}\nspec: {ports: [{port: 81}]}\n")
	for name, content := range extra {
		add(name, content)
	}
	tree["team/kustomization.yaml"] = file("namespace: team\nresources: [" + strings.Join(resources, ", ") + "]\n")
	tree["kustomization.yaml"] = file("resources: [team]\n")
	return tree
}

// partRuns counts the cached runs of split namespace lists.
func partRuns(c *Cache) int {
	n := 0
	for k := range c.runs {
		if k.part != "" {
			n++
		}
	}
	return n
}

// TestNamespaceListPartsMatchKustomize: a namespace list built in parts gives what
// kustomize gives for the whole, sources included; a binding whose subject another part
// moves to the namespace makes the list build whole, as a duplicate across parts is
// refused as kustomize refuses it.
func TestNamespaceListPartsMatchKustomize(t *testing.T) {
	binding := "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: agent}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: agent, namespace: elsewhere}]\n"
	for _, tc := range []struct {
		name  string
		extra map[string]string
		parts bool
	}{
		{"files only", nil, true},
		{"a binding to another part's account", map[string]string{"binding.yaml": binding}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := namespaceList(tc.extra)
			cache := &Cache{}
			split, err := Build(tree, ".", Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			_, whole := buildBothWays(t, tree, ".")
			if a, b := encode(t, split), encode(t, whole); a != b {
				t.Fatalf("the build in parts differs from kustomize's:\n--- parts\n%s\n--- whole\n%s", a, b)
			}
			if got := cache.runs[runKey{dir: "team"}] == nil && partRuns(cache) > 1; got != tc.parts {
				t.Fatalf("built in parts: %v, want %v", got, tc.parts)
			}
			if !strings.Contains(encode(t, whole), "kind: Namespace\nmetadata:\n  name: team\n") {
				t.Fatalf("kustomize did not name the Namespace after the list's namespace")
			}
		})
	}

	tree := namespaceList(map[string]string{"again.yaml": strings.ReplaceAll(cm, "%s", "cm-07")})
	if _, err := Build(tree, ".", Options{}); err == nil || !strings.Contains(err.Error(), "team/kustomization.yaml: ConfigMap team/cm-07 is given twice") {
		t.Fatalf("got %v", err)
	}
	splitAggregators = false
	defer func() { splitAggregators = true }()
	if _, err := Build(tree, ".", Options{}); err == nil {
		t.Fatal("kustomize accepts the duplicate too; the build in parts must agree with it")
	}
}

// TestNamespaceListPartsAreCachedApart: a changed file re-runs its own part only; a file
// added leaves the other parts' runs good.
func TestNamespaceListPartsAreCachedApart(t *testing.T) {
	tree := namespaceList(nil)
	cache := &Cache{}
	if _, err := Build(tree, ".", Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	parts := partRuns(cache)
	tree["team/cm-03.yaml"] = file(strings.ReplaceAll(strings.ReplaceAll(cm, "%s", "cm-03"), "k: v", "k: changed"))
	got, err := Build(tree, ".", Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if cache.hits != parts-1 {
		t.Fatalf("%d of %d parts replayed after one file changed", cache.hits, parts)
	}
	want, err := Build(tree, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if encode(t, got) != encode(t, want) {
		t.Fatalf("with the cache:\n%s\nwithout:\n%s", encode(t, got), encode(t, want))
	}
}

// TestPlainListDropsLocalConfig: an object marked as local configuration is left out of
// a plain list's build, as kustomize leaves it out, after it counted for duplicates.
func TestPlainListDropsLocalConfig(t *testing.T) {
	local := func(name, value string) *fstest.MapFile {
		return file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", annotations: {config.kubernetes.io/local-config: \"" + value + "\"}}\n")
	}
	tree := fstest.MapFS{
		"kustomization.yaml":     file("resources: [a.yaml, local.yaml, kept.yaml, sub]\n"),
		"a.yaml":                 configMap("a"),
		"local.yaml":             local("local", "true"),
		"kept.yaml":              local("kept", "false"),
		"sub/kustomization.yaml": file("resources: [cm.yaml]\n"),
		"sub/cm.yaml":            local("sub", "yes"),
	}
	split, whole := buildBothWays(t, tree, ".")
	if a, b := encode(t, split), encode(t, whole); a != b {
		t.Fatalf("split build differs from kustomize's:\n--- split\n%s\n--- whole\n%s", a, b)
	}
	if len(split) != 2 {
		t.Fatalf("got %d objects, want a and kept", len(split))
	}
}
