package syncs

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trustsync/trustsync/manifest"
)

func TestWithoutUnservedOperands(t *testing.T) {
	obj := func(apiVersion, kind, ns, name, source string) *manifest.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return manifest.New(u, source)
	}
	platform := []*manifest.Object{
		obj("v1", "ConfigMap", "trustsync-system", "kagenti-feature-gates", ""),
		obj("v1", "Namespace", "", "kuadrant-system", ""),
		obj("kuadrant.io/v1beta1", "Kuadrant", "kuadrant-system", "kuadrant", ""),
	}
	without := meta.NewDefaultRESTMapper(nil)
	with := meta.NewDefaultRESTMapper(nil)
	with.Add(schema.GroupVersionKind{Group: "kuadrant.io", Version: "v1beta1", Kind: "Kuadrant"}, meta.RESTScopeNamespace)

	if got := withoutUnservedOperands(with, platform); len(got) != 3 {
		t.Errorf("with the CRD: %d objects, want all 3", len(got))
	}
	got := withoutUnservedOperands(without, platform)
	if len(got) != 1 || got[0].GetKind() != "ConfigMap" {
		t.Errorf("without the CRD: %v, want only the feature gates", got)
	}
	if len(platform) != 3 {
		t.Error("the input was modified")
	}
	// A kuadrant-system Namespace from the repository itself is the repository's.
	own := []*manifest.Object{obj("v1", "Namespace", "", "kuadrant-system", "ns.yaml"), platform[2]}
	if got := withoutUnservedOperands(without, own); len(got) != 1 || got[0].Source != "ns.yaml" {
		t.Errorf("the repository's own namespace was dropped: %v", got)
	}
}
