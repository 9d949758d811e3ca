package kustomize

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

const cm = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
data:
  k: v
`

func configMap(name string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(strings.ReplaceAll(cm, "%s", name))}
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		tree    fstest.MapFS
		dir     string
		opts    Options
		want    map[string]string // object name → source file
		wantErr string
	}{
		{
			name: "kustomization with resources and a base",
			tree: fstest.MapFS{
				"apps/prod/kustomization.yaml": file("resources:\n- ../base\n- extra.yaml\nnamespace: prod\n"),
				"apps/prod/extra.yaml":         configMap("extra"),
				"apps/base/kustomization.yaml": file("resources:\n- cm.yaml\n"),
				"apps/base/cm.yaml":            configMap("base"),
			},
			dir:  "apps/prod",
			want: map[string]string{"base": "apps/base/cm.yaml", "extra": "apps/prod/extra.yaml"},
		},
		{
			// Found by FuzzBuild: the split build followed it until the stack overflowed.
			name: "a kustomization that lists itself",
			tree: fstest.MapFS{"k/kustomization.yaml": file("resources: [., cm.yaml]\n"), "k/cm.yaml": configMap("a")},
			dir:  "k", wantErr: `k/kustomization.yaml: builds on "k", which builds on it: kustomizations may not form a cycle`,
		},
		{
			name: "two kustomizations that build on each other",
			tree: fstest.MapFS{
				"a/kustomization.yaml": file("resources: [../b]\n"),
				"b/kustomization.yaml": file("resources: [../a, cm.yaml]\n"),
				"b/cm.yaml":            configMap("b"),
			},
			dir: "a", wantErr: `b/kustomization.yaml: builds on "a", which builds on it`,
		},
		{
			name: "generated objects come from the kustomization",
			tree: fstest.MapFS{
				"k/kustomization.yaml": file("configMapGenerator:\n- name: gen\n  literals: [a=b]\ngeneratorOptions: {disableNameSuffixHash: true}\n"),
			},
			dir:  "k",
			want: map[string]string{"gen": "k/kustomization.yaml"},
		},
		{
			name: "directory without kustomization is generated from its manifests",
			tree: fstest.MapFS{
				"plain/a.yaml":                    configMap("a"),
				"plain/sub/b.yml":                 configMap("b"),
				"plain/values.yaml":               file("replicas: 3\n"),
				"plain/README.md":                 file("# not yaml\n"),
				"plain/.hidden/c.yaml":            configMap("c"),
				"plain/base/kustomization.yaml":   file("resources: [d.yaml]\nnamePrefix: x-\n"),
				"plain/base/d.yaml":               configMap("d"),
				"plain/base/ignored-by-kust.yaml": configMap("never"),
			},
			dir:  "plain",
			want: map[string]string{"a": "plain/a.yaml", "b": "plain/sub/b.yml", "x-d": "plain/base/d.yaml"},
		},
		{
			name: "symlink inside the tree is followed",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources: [shared.yaml]\n"),
				"app/shared.yaml":        link("../common/cm.yaml"),
				"common/cm.yaml":         configMap("shared"),
			},
			dir:  "app",
			want: map[string]string{"shared": "app/shared.yaml"},
		},
		{
			name: "symlink leaving the tree is refused",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources: [secret.yaml]\n"),
				"app/secret.yaml":        link("../../outside/secret.yaml"),
			},
			dir:     "app",
			wantErr: `symlink "app/secret.yaml" -> "../../outside/secret.yaml" points outside the source tree`,
		},
		{
			name: "absolute symlink is refused",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources: [passwd.yaml]\n"),
				"app/passwd.yaml":        link("/etc/passwd"),
			},
			dir:     "app",
			wantErr: `points outside the source tree`,
		},
		{
			name: "resource path climbing out of the tree is refused",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources:\n- ../../../etc/hosts\n"),
			},
			dir:     "app",
			wantErr: `app/kustomization.yaml: resources[0]: "../../../etc/hosts" is outside the source tree`,
		},
		{
			name:    "build path climbing out of the tree is refused",
			tree:    fstest.MapFS{"app/a.yaml": configMap("a")},
			dir:     "../app",
			wantErr: `path "../app" is outside the source tree`,
		},
		{
			name:    "missing build path",
			tree:    fstest.MapFS{"app/a.yaml": configMap("a")},
			dir:     "nope",
			wantErr: `path "nope": no such directory in the source tree`,
		},
		{
			name: "remote base is refused by default",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources:\n- ok.yaml\n- github.com/example/repo//deploy?ref=v1\n"),
				"app/ok.yaml":            configMap("ok"),
			},
			dir:     "app",
			wantErr: `app/kustomization.yaml: resources[1]: "github.com/example/repo//deploy?ref=v1" is not a path of the tree: remote bases, URLs and git addresses are refused`,
		},
		{
			name: "remote patch file in a nested base is refused",
			tree: fstest.MapFS{
				"app/kustomization.yaml":  file("resources: [../base]\n"),
				"base/kustomization.yaml": file("resources: [cm.yaml]\npatches:\n- path: https://example.com/patch.yaml\n"),
				"base/cm.yaml":            configMap("x"),
			},
			dir:     "app",
			wantErr: `base/kustomization.yaml: patches[0].path: "https://example.com/patch.yaml" is not a path of the tree`,
		},
		{
			name:    "missing resource names the kustomization",
			tree:    fstest.MapFS{"app/kustomization.yaml": file("resources: [missing.yaml]\n")},
			dir:     "app",
			wantErr: `app/kustomization.yaml: resources[0]: "missing.yaml" does not exist in the tree`,
		},
		{
			name: "inline transformers are not paths",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata: {name: l}\n  labels: {team: a}\n  fieldSpecs: [{path: metadata/labels, create: true}]\n"),
				"app/cm.yaml":            configMap("a"),
			},
			dir:  "app",
			want: map[string]string{"a": "app/cm.yaml"},
		},
		{
			name: "invalid YAML names the file",
			tree: fstest.MapFS{
				"app/kustomization.yaml": file("resources: [bad.yaml]\n"),
				"app/bad.yaml":           file("apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n"),
			},
			dir:     "app",
			wantErr: "bad.yaml",
		},
		{
			name:    "empty directory",
			tree:    fstest.MapFS{"app/README.md": file("x")},
			dir:     "app",
			wantErr: `no kustomization.yaml and no Kubernetes manifests`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Build(tt.tree, tt.dir, tt.opts)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("want error containing %q, got %d objects", tt.wantErr, len(objs))
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, o := range objs {
				got[o.GetName()] = o.Source
				if _, ok := o.GetAnnotations()[originAnnotation]; ok {
					t.Errorf("%s: origin annotation leaked into the output", o.GetName())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got objects %v, want %v", got, tt.want)
			}
			for name, src := range tt.want {
				if got[name] != src {
					t.Errorf("object %s: source %q, want %q", name, got[name], src)
				}
			}
		})
	}
}

func TestBuildKeepsOriginAnnotationsTheUserAskedFor(t *testing.T) {
	tree := fstest.MapFS{
		"app/kustomization.yaml": file("resources: [a.yaml]\nbuildMetadata: [originAnnotations]\n"),
		"app/a.yaml":             configMap("a"),
	}
	objs, err := Build(tree, "app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := objs[0].GetAnnotations()[originAnnotation]; !strings.Contains(got, "a.yaml") {
		t.Fatalf("origin annotation = %q, want it kept", got)
	}
}

// TestBuildNeverFetches: a reference to a URL is refused before kustomize could fetch
// it, wherever in a kustomization it appears; the server sees no request.
func TestBuildNeverFetches(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte(strings.ReplaceAll(cm, "%s", "remote")))
	}))
	defer srv.Close()
	for _, k := range []string{
		"resources:\n- " + srv.URL + "/cm.yaml\n",
		"resources: [cm.yaml]\nconfigMapGenerator:\n- name: g\n  files: [" + srv.URL + "/x]\n",
		"resources: [cm.yaml]\nconfigMapGenerator:\n- name: g\n  envs: [" + srv.URL + "/x]\n",
		"resources: [cm.yaml]\npatches:\n- path: " + srv.URL + "/p.yaml\n",
	} {
		tree := fstest.MapFS{"app/kustomization.yaml": file(k), "app/cm.yaml": configMap("a")}
		_, err := Build(tree, "app", Options{})
		if err == nil || !strings.Contains(err.Error(), "remote bases, URLs and git addresses are refused") {
			t.Errorf("%q: want a refusal, got %v", k, err)
		}
	}
	if n := requests.Load(); n > 0 {
		t.Fatalf("the build sent %d requests", n)
	}
}

// TestBuildOnDisk checks the same confinement through os.DirFS, where symlinks are real.
func TestBuildOnDisk(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret.yaml"), strings.ReplaceAll(cm, "%s", "stolen"))
	write(filepath.Join(root, "app/kustomization.yaml"), "resources: [cm.yaml, linked.yaml]\n")
	write(filepath.Join(root, "app/cm.yaml"), strings.ReplaceAll(cm, "%s", "a"))
	write(filepath.Join(root, "shared/b.yaml"), strings.ReplaceAll(cm, "%s", "b"))
	if err := os.Symlink("../shared/b.yaml", filepath.Join(root, "app/linked.yaml")); err != nil {
		t.Fatal(err)
	}
	objs, err := Build(os.DirFS(root), "app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("want 2 objects, got %d", len(objs))
	}

	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "app/escape.yaml")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(root, "app/kustomization.yaml"), "resources: [cm.yaml, escape.yaml]\n")
	if _, err := Build(os.DirFS(root), "app", Options{}); err == nil || !strings.Contains(err.Error(), "points outside the source tree") {
		t.Fatalf("want symlink refusal, got %v", err)
	}

	// A missing directory in a link's target does not end the walk: the link reached
	// past it is checked too, not left for os.DirFS to follow out of the tree.
	if err := os.Symlink("missing/../escape.yaml", filepath.Join(root, "app/via-missing.yaml")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(root, "app/kustomization.yaml"), "resources: [cm.yaml, via-missing.yaml]\n")
	if _, err := Build(os.DirFS(root), "app", Options{}); err == nil || !strings.Contains(err.Error(), `symlink "app/escape.yaml" -> `) {
		t.Fatalf("want symlink refusal, got %v", err)
	}
}

func TestBuildWithNamespace(t *testing.T) {
	tree := fstest.MapFS{
		"kustomization.yaml":   file("resources: [a, b]\n"),
		"a/kustomization.yaml": file("namespace: team-a\nresources: [cm.yaml, role.yaml]\n"),
		"a/cm.yaml":            configMap("one"),
		"a/role.yaml":          file("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"),
		"b/kustomization.yaml": file("resources: [cm.yaml]\n"),
		"b/cm.yaml":            configMap("two"),
		"plain/cm.yaml":        configMap("three"),
	}
	for _, dir := range []string{".", "plain"} {
		objs, err := Build(tree, dir, Options{Namespace: "target"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			want := "target"
			if o.GetKind() == "ClusterRole" {
				want = ""
			}
			if o.GetNamespace() != want {
				t.Errorf("%s: %s: namespace %q, want %q", dir, o.Ref(), o.GetNamespace(), want)
			}
		}
	}
}
