package kustomize

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// slowObject is kyaml's conversion, the one objectOf stands in for.
func slowObject(n *kyaml.RNode) (map[string]any, error) {
	data, err := n.MarshalJSON()
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return u.Object, nil
}

// sameAsKyaml fails when objectOf accepts a document and gives other than kyaml's map;
// it reports whether objectOf accepted it.
func sameAsKyaml(t *testing.T, doc string) bool {
	t.Helper()
	n, err := kyaml.Parse(doc)
	if err != nil {
		return false
	}
	fast, ok := objectOf(n.YNode())
	if !ok {
		return false
	}
	slow, err := slowObject(n)
	if err != nil {
		t.Fatalf("objectOf accepted what kyaml refuses (%v):\n%s", err, doc)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("objectOf differs from kyaml for\n%s\nfast: %#v\nslow: %#v", doc, fast, slow)
	}
	return true
}

func TestObjectOfMatchesKyaml(t *testing.T) {
	const head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
	for _, c := range []struct {
		name   string
		doc    string
		accept bool
	}{
		{"strings and nesting", head + "data: {a: x, b: 'quoted', c: \"dq\", d: ''}\nlist: [a, [b, c], {d: e}]\n", true},
		{"numbers", head + "spec: {a: 1, b: -3, c: 0, d: 1.5, e: 2.0, f: -0, g: 9223372036854775807, h: \"7\"}\n", true},
		{"bools and nulls", head + "spec: {a: true, b: False, c: null, d: ~, f: TRUE}\n", true},
		{"empty value", head + "spec: {e: }\n", false},
		{"yaml 1.1 words stay strings", head + "spec: {a: yes, b: no, c: on, d: off, e: y}\n", true},
		{"explicit str tag", head + "spec: {a: !!str 123, b: !!str true}\n", true},
		{"block scalars", head + "spec:\n  a: |\n    line one\n    line two\n  b: >-\n    folded\n    text\n", true},
		{"unicode", head + "spec: {a: \"caf\\u00e9 \\U0001F600\", b: ünïcödé}\n", true},
		{"octal-looking int", head + "spec: {a: 0123}\n", false},
		{"hex int", head + "spec: {a: 0x1f}\n", false},
		{"int beyond int64", head + "spec: {a: 9223372036854775808}\n", false},
		{"exponent float", head + "spec: {a: 1e3}\n", false},
		{"infinity", head + "spec: {a: .inf}\n", false},
		{"timestamp", head + "spec: {a: 2001-12-14}\n", false},
		{"binary", head + "spec: {a: !!binary aGVsbG8=}\n", false},
		{"custom tag", head + "spec: {a: !thing x}\n", false},
		{"alias", head + "spec: {a: &x {b: c}, d: *x}\n", false},
		{"merge key", head + "spec: {a: &x {b: c}, d: {<<: *x}}\n", false},
		{"int key", head + "spec: {1: a}\n", false},
		{"bool key", head + "spec: {true: a}\n", false},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sameAsKyaml(t, c.doc); got != c.accept {
				t.Fatalf("objectOf accepted=%v, want %v", got, c.accept)
			}
		})
	}
}

// TestObjectOfServesTheExamples: every manifest of the example repositories converts
// the same both ways, and the fast path serves nearly all of them.
func TestObjectOfServesTheExamples(t *testing.T) {
	var docs, accepted int
	err := filepath.WalkDir("../../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if !strings.Contains(doc, "kind:") {
				continue
			}
			docs++
			if sameAsKyaml(t, doc) {
				accepted++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if docs < 20 || accepted*10 < docs*9 {
		t.Fatalf("the fast path served %d of %d example documents", accepted, docs)
	}
}

// FuzzObjectOf: whatever a document says, objectOf either declines or gives kyaml's map.
func FuzzObjectOf(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1, b: 1.50, c: [x, null]}\n")
	f.Add("kind: X\na: &a {b: 0.0}\nc: *a\n")
	f.Add("kind: X\na: !!float 3\nb: !!int 4\nc: !!bool true\n")
	f.Fuzz(func(t *testing.T, doc string) {
		if len(doc) > 4096 {
			return
		}
		if _, err := guardYAML([]byte(doc), yamlBounds{depth: Limits{}.withDefaults().YAMLDepth, nodes: Limits{}.withDefaults().YAMLNodes}); err != nil {
			return
		}
		sameAsKyaml(t, doc)
	})
}
