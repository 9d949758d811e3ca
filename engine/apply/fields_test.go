package apply

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

func TestFieldDiffs(t *testing.T) {
	desired := map[string]any{
		"data": map[string]any{"key": "one", "long": strings.Repeat("é", 300)},
		"spec": map[string]any{
			"containers": []any{map[string]any{"name": "app", "image": "app:1"}, map[string]any{"name": "side", "image": "side:1"}},
			"finalizers": []any{"a", "b"},
		},
	}
	live := map[string]any{
		"data": map[string]any{"key": "two"},
		"spec": map[string]any{
			// Reordered: items are found by their key, not their index.
			"containers": []any{map[string]any{"name": "side", "image": "side:2"}, map[string]any{"name": "app", "image": "app:1"}},
			"finalizers": []any{"b"},
		},
	}
	side := fieldpath.MakePathOrDie("spec", "containers", &value.FieldList{{Name: "name", Value: value.NewValueInterface("side")}}, "image")
	finalizer := fieldpath.MakePathOrDie("spec", "finalizers", value.NewValueInterface("a"))
	cut := strings.Repeat("é", MaxDiffValue/2-1)
	tests := []struct {
		name   string
		secret bool
		ptr    string
		path   fieldpath.Path
		want   FieldDiff
	}{
		{"a changed value", false, "/data/key", fieldpath.MakePathOrDie("data", "key"), FieldDiff{Field: "/data/key", Desired: `"one"`, Live: `"two"`}},
		{"a keyed list item", false, "/spec/containers/1/image", side, FieldDiff{Field: "/spec/containers/1/image", Desired: `"side:1"`, Live: `"side:2"`}},
		{"a set member removed", false, "/spec/finalizers/a", finalizer, FieldDiff{Field: "/spec/finalizers/a", Desired: `"a"`}},
		{"cut at a rune", false, "/data/long", fieldpath.MakePathOrDie("data", "long"), FieldDiff{Field: "/data/long", Desired: `"` + cut + "…"}},
		{"a Secret's values are hidden", true, "/data/key", fieldpath.MakePathOrDie("data", "key"), FieldDiff{Field: "/data/key", Hidden: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldDiffs(tt.secret, desired, live, []string{tt.ptr}, []fieldpath.Path{tt.path})
			if !reflect.DeepEqual(got, []FieldDiff{tt.want}) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	many := make([]string, MaxDiffs+5)
	paths := make([]fieldpath.Path, len(many))
	for i := range many {
		many[i], paths[i] = "/data/key", fieldpath.MakePathOrDie("data", "key")
	}
	if got := fieldDiffs(false, desired, live, many, paths); len(got) != MaxDiffs {
		t.Errorf("%d diffs of %d fields, want %d", len(got), len(many), MaxDiffs)
	}
}
