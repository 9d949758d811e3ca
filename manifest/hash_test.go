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

// Equal tells apart what Hash tells apart, and calls equal values equal.
func TestEqual(t *testing.T) {
	distinct := []any{
		nil, true, false, "", "n", int64(1), "1", float64(1.5), int64(0), float64(0),
		map[string]any{}, []any{}, []any{nil}, map[string]any{"a": "b"}, map[string]any{"a": nil},
		map[string]any{"b": nil}, map[string]any{"a": map[string]any{}}, []any{"a", "b"}, []any{"b", "a"},
		[]any{"a"}, map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1", "b": "3"}, int(7),
	}
	for i, a := range distinct {
		for j, b := range distinct {
			if got := Equal(a, b); got != (i == j) {
				t.Errorf("Equal(%#v, %#v) = %v", a, b, got)
			}
		}
	}
	a := map[string]any{"x": int64(1), "y": []any{"p", map[string]any{"q": true}}, "z": nil}
	b := map[string]any{"z": nil, "y": []any{"p", map[string]any{"q": true}}, "x": int64(1)}
	if !Equal(a, b) {
		t.Error("equal maps are unequal")
	}
	b["y"].([]any)[1].(map[string]any)["q"] = false
	if Equal(a, b) {
		t.Error("a change deep inside is not seen")
	}
}
