package manifest

import (
	"testing"
)

// TestCanonicalTellsValuesApart: values that differ encode differently, however their
// parts could be run together; equal values encode alike.
func TestCanonicalTellsValuesApart(t *testing.T) {
	distinct := []any{
		nil, true, false, "", "n", "t", int64(1), "1", float64(1.5), "1.5", int64(0), float64(0.5),
		map[string]any{}, []any{}, []any{nil}, map[string]any{"a": "b"}, map[string]any{"ab": ""},
		map[string]any{"a": map[string]any{}}, []any{"a", "b"}, []any{"ab"}, []any{[]any{"a"}, "b"},
		[]any{"a", []any{"b"}}, map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "12"},
		"s1:a", []any{"s1:a"},
	}
	seen := map[string]any{}
	for _, v := range distinct {
		b, err := appendCanonical(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[string(b)]; dup {
			t.Errorf("%#v and %#v encode alike: %q", v, other, b)
		}
		seen[string(b)] = v
	}

	a := map[string]any{"x": int64(1), "y": []any{"p", map[string]any{"q": true}}, "z": nil}
	b := map[string]any{"z": nil, "y": []any{"p", map[string]any{"q": true}}, "x": int64(1)}
	ea, _ := appendCanonical(nil, a)
	eb, _ := appendCanonical(nil, b)
	if string(ea) != string(eb) {
		t.Errorf("equal maps encode differently: %q, %q", ea, eb)
	}
}
