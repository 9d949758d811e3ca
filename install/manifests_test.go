package install

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trustsync/trustsync/renderers/kustomize"
)

func images(objs []*unstructured.Unstructured) map[string][]string {
	out := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			out[o.GetName()] = append(out[o.GetName()], c.(map[string]any)["image"].(string))
		}
	}
	return out
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// TestManifestsAreConfig: what install applies is, object for object, what
// `kubectl apply -k` of the matching config/ base gives: config/ is the one source.
func TestManifestsAreConfig(t *testing.T) {
	tests := []struct {
		base string
		o    Options
	}{
		{"config/default", Options{}},
		{"config/cert-manager", Options{CertManager: true}},
		{"config/bundle-server", Options{BundleServer: true}},
		{"config/dashboard", Options{Dashboard: true}},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			want, err := kustomize.Build(os.DirFS(".."), tc.base, kustomize.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Manifests(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			wantObjs := make([]*unstructured.Unstructured, len(want))
			for i, o := range want {
				wantObjs[i] = o.Unstructured
			}
			if g, w := names(got), names(wantObjs); !slices.Equal(g, w) {
				t.Fatalf("install gives\n%s\nconfig gives\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
			for i := range got {
				// kustomize records where each object came from; the paths differ.
				a, b := got[i].DeepCopy(), wantObjs[i].DeepCopy()
				for _, u := range []*unstructured.Unstructured{a, b} {
					anns := u.GetAnnotations()
					delete(anns, "config.kubernetes.io/origin")
					u.SetAnnotations(anns)
				}
				if !equalObjects(a, b) {
					t.Errorf("%s differs from config/'s", names(got[i : i+1])[0])
				}
			}
		})
	}
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	return string(ja) == string(jb)
}

// TestManifestsImage: every container of every component runs the image asked for,
// whatever the reference looks like; what is not an image reference is refused.
func TestManifestsImage(t *testing.T) {
	all := Options{CertManager: true, BundleServer: true, Dashboard: true}
	tests := []struct{ image, want, err string }{
		{"", Repository + ":latest", ""},
		{"ghcr.io/trustsync/trustsync:v1.2.3", "ghcr.io/trustsync/trustsync:v1.2.3", ""},
		{"registry.local:5000/mirror/trustsync:v1.2.3", "registry.local:5000/mirror/trustsync:v1.2.3", ""},
		{"registry.local:5000/mirror/trustsync", "registry.local:5000/mirror/trustsync:latest", ""},
		{"ghcr.io/trustsync/trustsync@sha256:" + strings.Repeat("a", 64), "ghcr.io/trustsync/trustsync@sha256:" + strings.Repeat("a", 64), ""},
		{"ghcr.io/x; rm -rf /", "", "not an image reference"},
		{"Upper/Case:v1", "", "not an image reference"},
	}
	for _, tc := range tests {
		o := all
		o.Image = tc.image
		objs, err := Manifests(o)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.image, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.image, err)
		}
		imgs := images(objs)
		if len(imgs) != 4 {
			t.Errorf("%q: Deployments %v, want controller, webhook, bundle server and dashboard", tc.image, imgs)
		}
		for d, is := range imgs {
			for _, i := range is {
				if i != tc.want {
					t.Errorf("%q: %s runs %s, want %s", tc.image, d, i, tc.want)
				}
			}
		}
	}
}

func TestImageOfVersion(t *testing.T) {
	for v, want := range map[string]string{
		"v0.4.0": Repository + ":v0.4.0", "v1.0.0-rc.1": Repository + ":v1.0.0-rc.1",
		"dev": Repository + ":latest", "e649587-dirty": Repository + ":latest", "v1.2": Repository + ":latest",
	} {
		if got := Image(v); got != want {
			t.Errorf("Image(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestClusterService(t *testing.T) {
	tests := []struct {
		host, name, ns string
		ok             bool
	}{
		{"keycloak.keycloak.svc", "keycloak", "keycloak", true},
		{"keycloak.keycloak.svc.cluster.local", "keycloak", "keycloak", true},
		{"keycloak.example.com", "", "", false},
		{"127.0.0.1", "", "", false},
		{"keycloak", "", "", false},
	}
	for _, tc := range tests {
		name, ns, ok := clusterService(tc.host)
		if name != tc.name || ns != tc.ns || ok != tc.ok {
			t.Errorf("clusterService(%q) = %q %q %v", tc.host, name, ns, ok)
		}
	}
}
