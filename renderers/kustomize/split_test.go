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

// sameAsKustomize fails unless got, a build of what, holds kustomize's objects (whole),
// sources included.
func sameAsKustomize(t *testing.T, what string, got, whole []*manifest.Object) {
	t.Helper()
	if a, b := encode(t, got), encode(t, whole); a != b {
		t.Fatalf("%s differs from kustomize's build:\n--- %s\n%s\n--- kustomize\n%s", what, what, a, b)
	}
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
	sameAsKustomize(t, "the split build", split, whole)
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
		sameAsKustomize(t, "the split build of "+dir, split, whole)
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
	sameAsKustomize(t, "the split build", split, whole)
	if !strings.Contains(encode(t, whole), "namespace: team-a\n") {
		t.Fatalf("kustomize did not move the subject:\n%s", encode(t, whole))
	}
}

// namespaceList is a kustomization that sets a namespace on files: ConfigMaps,
// Deployments that mount a ConfigMap of another file, a Namespace object, a
// ServiceAccount already namespaced elsewhere, cluster-scoped objects, the kinds whose
// other fields kustomize's namespace transformer sets (an APIService, a CRD's conversion
// webhook), a custom kind, Helm's output, local configuration, a List, empty documents
// and a file of two documents, and extra files added by the cases.
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
	add("cluster.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high, namespace: oops}\nvalue: 10\n")
	add("apiservice.yaml", "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.example.org}\nspec: {group: example.org, version: v1, groupPriorityMinimum: 1, versionPriority: 1, service: {name: api}}\n")
	add("crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.org}\nspec:\n  group: example.org\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n  conversion: {strategy: Webhook, webhook: {conversionReviewVersions: [v1], clientConfig: {service: {name: convert, namespace: old}}}}\n")
	add("widget.yaml", "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n")
	add("helm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-helm, annotations: {internal.config.kubernetes.io/helm-generated: \"true\"}}\n")
	add("local.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local, annotations: {config.kubernetes.io/local-config: \"true\"}}\n")
	add("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: listed}}\n")
	add("two.yaml", "---\napiVersion: v1\nkind: Service\nmetadata: {name: s1}\nspec: {ports: [{port: 80}]}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s2}\nspec: {ports: [{port: 81}]}\n")
	for name, content := range extra {
		add(name, content)
	}
	tree["team/kustomization.yaml"] = file("namespace: team\nresources: [" + strings.Join(resources, ", ") + "]\n")
	tree["kustomization.yaml"] = file("resources: [team]\n")
	return tree
}

// TestNamespaceListMatchesKustomize: a namespace list built without kustomize gives
// what kustomize gives, sources included, from a fresh cache and from a cache of the
// same list; a binding whose subject the list moves makes kustomize build it, as a
// duplicate is refused as kustomize refuses it.
func TestNamespaceListMatchesKustomize(t *testing.T) {
	binding := "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: agent}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: agent, namespace: elsewhere}]\n"
	for _, tc := range []struct {
		name      string
		extra     map[string]string
		kustomize bool
	}{
		{"files only", nil, false},
		{"a binding to a moved account", map[string]string{"binding.yaml": binding}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := namespaceList(tc.extra)
			cache := &Cache{}
			fast, err := Build(tree, ".", Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			_, whole := buildBothWays(t, tree, ".")
			sameAsKustomize(t, "the list", fast, whole)
			// The list as the build's own path, with no plain list above it.
			list, wholeList := buildBothWays(t, tree, "team")
			sameAsKustomize(t, "the list built as the path", list, wholeList)
			if ran := cache.runs[runKey{dir: "team"}] != nil; ran != tc.kustomize {
				t.Fatalf("kustomize ran: %v, want %v", ran, tc.kustomize)
			}
			again, err := Build(tree, ".", Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			sameAsKustomize(t, "the list from the cache", again, whole)
			for _, want := range []string{"kind: Namespace\nmetadata:\n  name: team\n", "name: api\n    namespace: team\n", "name: convert\n          namespace: team\n"} {
				if !strings.Contains(encode(t, whole), want) {
					t.Fatalf("kustomize's build lacks %q: the case proves less than it says", want)
				}
			}
		})
	}

	tree := namespaceList(map[string]string{"again.yaml": strings.ReplaceAll(cm, "%s", "cm-07")})
	if _, err := Build(tree, ".", Options{}); err == nil || !strings.Contains(err.Error(), "team/kustomization.yaml: ConfigMap team/cm-07 is built twice, from team/cm-07.yaml and team/again.yaml") {
		t.Fatalf("got %v", err)
	}
	splitAggregators = false
	defer func() { splitAggregators = true }()
	if _, err := Build(tree, ".", Options{}); err == nil {
		t.Fatal("kustomize accepts the duplicate too; the list's build must agree with it")
	}
}

// TestNamespaceListFilesAreKept: after one file changed, the next build reads the
// others' objects from the cache and only the changed one anew.
func TestNamespaceListFilesAreKept(t *testing.T) {
	tree := namespaceList(nil)
	cache := &Cache{}
	if _, err := Build(tree, ".", Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	kept := cache.listed.Len()
	tree["team/cm-03.yaml"] = file(strings.ReplaceAll(strings.ReplaceAll(cm, "%s", "cm-03"), "k: v", "k: changed"))
	got, err := Build(tree, ".", Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if cache.listed.Len() != kept+1 {
		t.Fatalf("%d files' objects kept after one changed, %d before", cache.listed.Len(), kept)
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
	sameAsKustomize(t, "the split build", split, whole)
	if len(split) != 2 {
		t.Fatalf("got %d objects, want a and kept", len(split))
	}
}
