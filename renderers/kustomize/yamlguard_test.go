package kustomize

import (
	"fmt"
	"strings"
	"testing"
)

// billionLaughs is an alias bomb: a few hundred bytes that expand to 10^levels nodes.
func billionLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// nested is a mapping nested depth levels deep, in block or flow style.
func nested(depth int, flow bool) string {
	if flow {
		return strings.Repeat("{a: ", depth) + "x" + strings.Repeat("}", depth) + "\n"
	}
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	b.WriteString(strings.Repeat(" ", depth) + "b: x\n")
	return b.String()
}

// aliasTower nests by aliases: each level is small, the expansion deep.
func aliasTower(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 {x: 1}\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {y: *l%d}\n", i, i, i-1)
	}
	return b.String()
}

func TestGuardYAML(t *testing.T) {
	bounds := yamlBounds{depth: 100, nodes: 100000}
	tests := []struct {
		name    string
		doc     string
		docs    int
		wantErr string
	}{
		{name: "plain manifests", doc: "a: 1\n---\nb: [1, 2]\n---\n# only a comment\n", docs: 2},
		{name: "JSON", doc: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}`, docs: 1},
		{name: "a few aliases are fine", doc: "base: &b {x: 1}\nother: *b\nmerged: {<<: *b, y: 2}\n", docs: 1},
		{name: "merge keys may repeat", doc: "a: &a {x: 1}\nb: &b {y: 1}\nc: {<<: *a, <<: *b}\n", docs: 1},
		{name: "alias bomb", doc: billionLaughs(9), wantErr: "(Platform limits.yamlNodes)"},
		{name: "block nesting", doc: nested(150, false), wantErr: "YAML nested deeper than 100 levels, over the bound 100 (Platform limits.yamlDepth)"},
		{name: "flow nesting", doc: nested(5000, true), wantErr: "limits.yamlDepth"},
		{name: "depth reached through aliases", doc: aliasTower(150), wantErr: "limits.yamlDepth"},
		{name: "duplicate key", doc: "kind: Kustomization\nresources: [a.yaml]\nnamespace: x\nresources: [b.yaml]\n", wantErr: `line 4: key "resources" is given twice in one mapping (first at line 2)`},
		{name: "duplicate key deep inside", doc: "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        name: b\n", wantErr: `line 7: key "name" is given twice`},
		{name: "syntax error", doc: "a: [1, 2\n", wantErr: "not valid YAML"},
		// Found by FuzzBuild: kustomize expanded it until its stack overflowed.
		{name: "alias inside its own anchor", doc: "a: &a [*a, *a, *a]\n", wantErr: "line 1: the alias *a is inside its own anchor"},
		{name: "alias inside its own anchor, deeper", doc: "a: &a {b: [1, {c: *a}]}\n", wantErr: "inside its own anchor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts, err := guardYAML([]byte(tt.doc), bounds)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if facts.documents != tt.docs {
				t.Errorf("documents = %d, want %d", facts.documents, tt.docs)
			}
		})
	}
}
