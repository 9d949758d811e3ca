package syncs

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/objcache"
)

// The drift watch reads objects as the engine's cache holds them (package objcache).
func TestOwnershipChanged(t *testing.T) {
	cached := func(fields map[string]any, rv string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{
			"name": "a", "resourceVersion": rv, "managedFields": []any{
				map[string]any{"manager": gitopsv1.FieldManager, "operation": "Apply", "fieldsV1": fields},
				map[string]any{"manager": "kubelet", "operation": "Update", "subresource": "status", "fieldsV1": map[string]any{"f:status": map[string]any{}}},
			}}}}
		out, err := objcache.Trim(gitopsv1.FieldManager)(u)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*unstructured.Unstructured)
	}
	both := map[string]any{"f:data": map[string]any{"f:a": map[string]any{}, "f:b": map[string]any{}}}
	one := map[string]any{"f:data": map[string]any{"f:a": map[string]any{}}}
	for _, tt := range []struct {
		name     string
		old, new *unstructured.Unstructured
		want     bool
	}{
		{"a write that left ownership alone", cached(both, "1"), cached(both, "2"), false},
		{"a field taken", cached(both, "1"), cached(one, "2"), true},
		{"not an object of the cache", nil, cached(one, "2"), false},
	} {
		var old any = tt.old
		if tt.old == nil {
			old = "tombstone"
		}
		if got := ownershipChanged(old, tt.new); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}
