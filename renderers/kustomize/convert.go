package kustomize

import (
	"encoding/json"
	"regexp"
	"strconv"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// A kustomize resource is a YAML node tree. kyaml's own conversion to a map
// (RNode.MarshalJSON) prints the tree as YAML, parses that text again and encodes it as
// JSON, which unstructured then decodes: a fifth of a render's allocations went there.
// objectOf reads the node tree directly and gives the same map for every node it
// accepts; anything it does not handle exactly — aliases, merge keys, duplicate or
// non-string keys, tags other than str, null, bool, plain decimal int and float — it
// declines, and the caller takes kyaml's path, with its result and its errors.

// objectOf returns the map a mapping node decodes to, or false when the node is outside
// what it handles exactly.
func objectOf(n *yaml.Node) (map[string]any, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	v, ok := valueOf(n)
	if !ok {
		return nil, false
	}
	m := v.(map[string]any)
	// unstructured refuses an object without a kind; leave that error to the slow path.
	if kind, _ := m["kind"].(string); kind == "" {
		return nil, false
	}
	return m, true
}

func valueOf(n *yaml.Node) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content)%2 != 0 {
			return nil, false
		}
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" || !utf8.ValidString(k.Value) {
				return nil, false
			}
			if _, dup := m[k.Value]; dup {
				return nil, false
			}
			v, ok := valueOf(n.Content[i+1])
			if !ok {
				return nil, false
			}
			m[k.Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, ok := valueOf(c)
			if !ok {
				return nil, false
			}
			s[i] = v
		}
		return s, true
	case yaml.ScalarNode:
		return scalarOf(n)
	}
	return nil, false // documents, aliases
}

var (
	plainInt   = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	plainFloat = regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]+$`)
)

// scalarOf gives a scalar the value the YAML → JSON → unstructured round trip gives it:
// JSON numbers come back as int64 when they read as one, else as float64.
func scalarOf(n *yaml.Node) (any, bool) {
	switch n.ShortTag() {
	case "!!str":
		if !utf8.ValidString(n.Value) {
			return nil, false
		}
		return n.Value, true
	case "!!null":
		// An empty value comes back from kyaml's printing as "", not null.
		if n.Value != "" {
			return nil, true
		}
	case "!!bool":
		switch n.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	case "!!int":
		if plainInt.MatchString(n.Value) {
			if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				return i, true
			}
		}
	case "!!float":
		if !plainFloat.MatchString(n.Value) {
			return nil, false
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return nil, false
		}
		text, err := json.Marshal(f)
		if err != nil {
			return nil, false
		}
		if i, err := strconv.ParseInt(string(text), 10, 64); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(string(text), 64); err == nil {
			return f, true
		}
	}
	return nil, false
}
