package kustomize

import (
	"testing"
	"testing/fstest"
)

// FuzzBuild: no kustomization and no manifest, however their paths, references and
// YAML are bent, makes Build panic, hang or leave the tree; every object it returns
// came from inside it.
func FuzzBuild(f *testing.F) {
	f.Add("resources: [cm.yaml]\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
	f.Add("resources: [../../etc/passwd, /etc, 'https://example.org/x']\n", "")
	f.Add("components: [.]\nresources: [sub]\n", "a: &a [*a, *a, *a]\n")
	f.Add("patches: [{path: cm.yaml}]\nconfigMapGenerator: [{name: x, files: [/proc/self/environ]}]\n", "kind: ConfigMap\n")
	f.Add("helmCharts: [{name: x, repo: 'oci://x'}]\n", "---\n---\n")
	f.Add("resources: [sub, sub/../sub]\n", "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n")
	f.Fuzz(func(t *testing.T, kustomization, manifest string) {
		tree := fstest.MapFS{
			"app/kustomization.yaml":     {Data: []byte(kustomization)},
			"app/cm.yaml":                {Data: []byte(manifest)},
			"app/sub/kustomization.yaml": {Data: []byte("resources: [../cm.yaml]\n")},
		}
		objs, err := Build(tree, "app", Options{Limits: Limits{Objects: 1000}})
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Source == "" {
				t.Fatalf("%s has no source file", o.Ref())
			}
		}
	})
}
