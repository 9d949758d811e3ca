package hostile

import (
	"fmt"
	"strings"
	"testing"
)

// configMaps is n ConfigMaps in one YAML stream.
func configMaps(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: team-a}\ndata: {k: v}\n", i)
	}
	return b.String()
}

// aliasBomb is a ConfigMap whose data expands to 10^levels strings.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb, namespace: team-a}\ndata:\n  x: y\nbomb:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [*l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d]\n", i, i, i-1)
	}
	return b.String()
}

// deepMapping is a ConfigMap with a label nested depth levels deep.
func deepMapping(depth int) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep, namespace: team-a}\nx: " +
		strings.Repeat("{a: ", depth) + "1" + strings.Repeat("}", depth) + "\n"
}

// manyFiles is n small manifests, one per file.
func manyFiles(n int) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("d%d/cm-%d.yaml", i%50, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: team-a}\n", i)
	}
	return files
}

// TestRenderIsBounded: every dimension of a revision has a bound, and exceeding one is an
// error naming the file and the Platform limit, reached quickly and in little memory.
func TestRenderIsBounded(t *testing.T) {
	render := []string{"render", "{tree}"}
	withPlatform := func(limits string) []string {
		return []string{"render", "{tree}/repo", "--platform", "{tree}/platform.yaml"}
	}
	platform := func(limits string) string {
		return "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\nlimits: {" + limits + "}\n"
	}
	run(t, []Case{
		{Name: "alias bomb", Files: map[string]string{"bomb.yaml": aliasBomb(9)}, Args: render,
			Stderr: []string{"bomb.yaml", "limits.yamlNodes"}, MaxRSSMiB: 256},
		{Name: "alias bomb in a kustomization", Files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\n" + strings.ReplaceAll(aliasBomb(9), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb, namespace: team-a}\ndata:\n  x: y\nbomb:", "metadata:\n  annotations:\n    x: y\n  labels:"), "a.yaml": configMaps(1)}, Args: render,
			Stderr: []string{"kustomization.yaml", "limits.yamlNodes"}, MaxRSSMiB: 256},
		{Name: "deep nesting", Files: map[string]string{"deep.yaml": deepMapping(10000)}, Args: render,
			Stderr: []string{"deep.yaml", "limits.yamlDepth"}},
		{Name: "10,000 objects in one file", Files: map[string]string{"cms.yaml": configMaps(10000)}, Args: render,
			Succeeds: true, MaxWall: 45e9},
		{Name: "10,000 objects in one transforming kustomization", Files: map[string]string{
			"kustomization.yaml": "namePrefix: x-\nresources: [cms.yaml]\n", "cms.yaml": configMaps(10000)}, Args: render,
			Stderr: []string{"cms.yaml", "limits.objectsPerBuild"}},
		{Name: "objects of the revision", Files: map[string]string{"repo/cms.yaml": configMaps(200), "platform.yaml": platform("objects: 100")}, Args: withPlatform(""),
			Stderr: []string{"limits.objects"}},
		{Name: "file size", Files: map[string]string{"repo/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: a}\ndata: {x: " + strings.Repeat("a", 2<<20) + "}\n", "platform.yaml": platform("fileSize: 1Mi")}, Args: withPlatform(""),
			Stderr: []string{"big.yaml", "limits.fileSize"}},
		{Name: "revision size", Files: func() map[string]string {
			f := map[string]string{"platform.yaml": platform("revisionSize: 1Mi")}
			for i := 0; i < 8; i++ {
				f[fmt.Sprintf("repo/f%d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f%d, namespace: a}\ndata: {x: %s}\n", i, strings.Repeat("a", 200<<10))
			}
			return f
		}(), Args: withPlatform(""), Stderr: []string{"limits.revisionSize"}},
		{Name: "many files", Files: func() map[string]string {
			f := map[string]string{"platform.yaml": platform("files: 500")}
			for k, v := range manyFiles(1000) {
				f["repo/"+k] = v
			}
			return f
		}(), Args: withPlatform(""), Stderr: []string{"limits.files"}},
		{Name: "two links to the tree's root", Files: map[string]string{"a/cm.yaml": configMaps(1)},
			Links: map[string]string{"a/l1": ".", "a/l2": "."}, Args: render, Succeeds: true, MaxWall: 30e9},
		{Name: "a link loop", Files: map[string]string{"kustomization.yaml": "resources: [loop/cm.yaml]\n"},
			Links: map[string]string{"loop": "loop2", "loop2": "loop"}, Args: render,
			Stderr: []string{"kustomization.yaml", "resources[0]", "limits.symlinkHops"}},
		{Name: "duplicate key in a manifest", Files: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: team-a\n  name: b\n"}, Args: render,
			Stderr: []string{"cm.yaml", `line 6: key "name" is given twice`}},
		{Name: "duplicate resources drop agents", Files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\nnamespace: team-a\nresources: [b.yaml]\n", "a.yaml": configMaps(1), "b.yaml": configMaps(1)}, Args: render,
			Stderr: []string{"kustomization.yaml", `key "resources" is given twice`}},
		{Name: "empty kustomization beside manifests", Files: map[string]string{"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", "cm.yaml": configMaps(3)}, Args: render,
			Stderr: []string{"kustomization.yaml", "yields no objects"}},
		{Name: "generator file outside the tree", Files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nconfigMapGenerator:\n- name: pw\n  files: [../../../../../../etc/passwd]\n", "cm.yaml": configMaps(1)}, Args: render,
			Stderr: []string{"kustomization.yaml", "configMapGenerator[0].files[0]", `"../../../../../../etc/passwd" is outside the source tree`}, NotInOutput: []string{"root:x:0:0"}},
		{Name: "absolute generator file", Files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nconfigMapGenerator:\n- name: pw\n  files: [/etc/passwd]\n", "cm.yaml": configMaps(1)}, Args: render,
			Stderr: []string{"kustomization.yaml", "configMapGenerator[0].files[0]", `"/etc/passwd" is an absolute path`}, NotInOutput: []string{"root:x:0:0"}},
		{Name: "unknown kustomization field", Files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nresource: [b.yaml]\n", "cm.yaml": configMaps(1)}, Args: render,
			Stderr: []string{"kustomization.yaml", `unknown field "resource"`}},
	})
}
