package kustomize

import (
	"maps"
	"testing"
	"testing/fstest"
)

// TestCacheIsTheBuild: after each change of a tree, a build with the cache of the
// previous builds gives what a build without one gives (objects, sources, errors), and
// replays only the kustomizations whose answers are all the same.
func TestCacheIsTheBuild(t *testing.T) {
	base := fstest.MapFS{
		"kustomization.yaml":        file("resources: [team-a, team-b]\n"),
		"team-a/kustomization.yaml": file("namespace: team-a\nresources: [one.yaml, two.yaml, ../shared]\n"),
		"team-a/one.yaml":           configMap("one"),
		"team-a/two.yaml":           configMap("two"),
		"team-b/kustomization.yaml": file("namespace: team-b\nresources: [three.yaml]\npatches:\n- path: patch.yaml\n"),
		"team-b/three.yaml":         configMap("three"),
		"team-b/patch.yaml":         file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\ndata: {patched: \"yes\"}\n"),
		"shared/kustomization.yaml": file("resources: [cm.yaml]\n"),
		"shared/cm.yaml":            configMap("common"),
	}
	for _, tc := range []struct {
		name   string
		change func(fstest.MapFS)
		limits Limits
		hits   int // kustomize runs replayed of the two
	}{
		{"nothing changed", func(fstest.MapFS) {}, Limits{}, 2},
		{"a file of one team", func(m fstest.MapFS) { m["team-a/one.yaml"] = configMap("uno") }, Limits{}, 1},
		{"a file both read through ../shared", func(m fstest.MapFS) { m["shared/cm.yaml"] = configMap("shared") }, Limits{}, 1},
		{"a patch", func(m fstest.MapFS) {
			m["team-b/patch.yaml"] = file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\ndata: {patched: \"no\"}\n")
		}, Limits{}, 1},
		{"a second kustomization file beside one", func(m fstest.MapFS) { m["team-b/kustomization.yml"] = file("resources: [three.yaml]\n") }, Limits{}, 1},
		{"a file the build does not read", func(m fstest.MapFS) { m["team-a/README.md"] = file("notes") }, Limits{}, 2},
		{"a resource removed", func(m fstest.MapFS) { delete(m, "team-a/two.yaml") }, Limits{}, 0}, // the build stops at team-a
		{"a lower object bound", func(fstest.MapFS) {}, Limits{ObjectsPerBuild: 2}, 0},
		{"a lower YAML depth bound", func(fstest.MapFS) {}, Limits{YAMLDepth: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &Cache{}
			if _, err := Build(base, ".", Options{Cache: cache}); err != nil {
				t.Fatal(err)
			}
			tree := maps.Clone(base)
			tc.change(tree)
			want, wantErr := Build(tree, ".", Options{Limits: tc.limits})
			got, gotErr := Build(tree, ".", Options{Limits: tc.limits, Cache: cache})
			if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
				t.Fatalf("with the cache: %v; without: %v", gotErr, wantErr)
			}
			if wantErr == nil && encode(t, got) != encode(t, want) {
				t.Fatalf("with the cache:\n%s\nwithout:\n%s", encode(t, got), encode(t, want))
			}
			if cache.hits != tc.hits {
				t.Errorf("%d runs replayed, want %d", cache.hits, tc.hits)
			}
		})
	}
}

// TestCacheCopies: what a build returns is its own; changing it changes no later build,
// whether the cache kept a kustomize run or a namespace list's files.
func TestCacheCopies(t *testing.T) {
	for _, kustomization := range []string{"namespace: x\ncommonLabels: {a: b}\nresources: [cm.yaml]\n", "namespace: x\nresources: [cm.yaml]\n"} {
		tree := fstest.MapFS{"kustomization.yaml": file(kustomization), "cm.yaml": configMap("one")}
		cache := &Cache{}
		first, err := Build(tree, ".", Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		first[0].SetName("changed")
		second, err := Build(tree, ".", Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		if cache.hits+cache.listed.Len() != 1 || second[0].GetName() != "one" {
			t.Fatalf("%s: hits %d, files kept %d, name %q", kustomization, cache.hits, cache.listed.Len(), second[0].GetName())
		}
	}
}

// TestCacheBounds: at most two runs of one kustomization and MaxRuns in all are kept.
func TestCacheBounds(t *testing.T) {
	cache := &Cache{MaxRuns: 3}
	for i, name := range []string{"a", "b", "c", "d"} {
		tree := fstest.MapFS{name + "/kustomization.yaml": file("namespace: x\ncommonLabels: {a: b}\nresources: [cm.yaml]\n"), name + "/cm.yaml": configMap(name)}
		for range 3 { // a new run of the same kustomization each time: the content differs
			tree[name+"/cm.yaml"] = configMap(name + string(rune('0'+i)))
			if _, err := Build(tree, name, Options{Cache: cache}); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
	if cache.count != 3 {
		t.Fatalf("%d runs kept, want 3", cache.count)
	}
	for k, runs := range cache.runs {
		if len(runs) > 2 {
			t.Errorf("%v: %d runs kept", k, len(runs))
		}
	}
	if _, ok := cache.runs[runKey{dir: "d"}]; !ok {
		t.Errorf("the newest kustomization's runs were evicted: %v", cache.runs)
	}
}
