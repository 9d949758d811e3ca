package sidecarconfig

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds of the decoder. The sidecar's documents are small and shallow; these stop a
// hostile one (deep nesting, alias expansion) long before it costs anything.
const (
	maxDepth = 32
	maxNodes = 100_000
)

// decoder decodes YAML nodes into Go values strictly: every key must be a field, every
// scalar must have the field's type, no key twice. Errors name the field path and are
// collected, so one pass reports all of them.
type decoder struct {
	p     *problems
	nodes int
}

// nodeDecoder is a type that decodes itself (a plugin entry: a name or a mapping).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// resolve follows aliases and counts the node against the budget; nil when the budget
// or the depth is exhausted (reported once).
func (d *decoder) resolve(n *yaml.Node, path string, depth int) *yaml.Node {
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > maxDepth {
			d.p.add(path, "unresolvable alias")
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.p.add(path, "more than %d YAML nodes (with aliases expanded); the configuration is not that large", maxNodes)
	}
	if d.nodes > maxNodes {
		return nil
	}
	if depth > maxDepth {
		d.p.add(path, "nested more than %d levels deep", maxDepth)
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// kindName says what a node is, for type errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the number " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "a document"
}

// decode decodes n into out, which must be settable.
func (d *decoder) decode(n *yaml.Node, path string, out reflect.Value, depth int) {
	if n = d.resolve(n, path, depth); n == nil || isNull(n) {
		return // absent and null are the zero value, as for the sidecar
	}
	if out.CanAddr() {
		if nd, ok := out.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch out.Kind() {
	case reflect.Pointer:
		v := reflect.New(out.Type().Elem())
		d.decode(n, path, v.Elem(), depth)
		out.Set(v)
	case reflect.Struct:
		d.mapping(n, path, out, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.p.add(path, "want a list, not %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(out.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, index(path, i), s.Index(i), depth+1)
		}
		out.Set(s)
	case reflect.String:
		d.scalar(n, path, "!!str", "a string", out)
	case reflect.Bool:
		d.scalar(n, path, "!!bool", "true or false", out)
	case reflect.Int:
		d.scalar(n, path, "!!int", "a whole number", out)
	default:
		panic(fmt.Sprintf("sidecarconfig: cannot decode into %s", out.Type()))
	}
}

// scalar decodes a scalar of the given tag with yaml's own conversion, so numbers and
// booleans read exactly as the sidecar's YAML library reads them. Unlike it, a string
// field takes no number or boolean, and a boolean field no yes/no/on/off.
func (d *decoder) scalar(n *yaml.Node, path, tag, want string, out reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.p.add(path, "want %s, not %s", want, kindName(n))
		return
	}
	v := reflect.New(out.Type())
	if err := n.Decode(v.Interface()); err != nil {
		d.p.add(path, "%v", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	out.Set(v.Elem())
}

// fields maps a struct's yaml keys to its field indexes.
func fields(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var keys []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		m[tag] = i
		keys = append(keys, tag)
	}
	slices.Sort(keys)
	return m, keys
}

// mapping decodes a mapping into a struct, refusing unknown and repeated keys.
func (d *decoder) mapping(n *yaml.Node, path string, out reflect.Value, depth int) {
	byKey, keys := fields(out.Type())
	d.eachKey(n, path, depth, keys, func(key string, value *yaml.Node) bool {
		i, ok := byKey[key]
		if ok {
			d.decode(value, join(path, key), out.Field(i), depth+1)
		}
		return ok
	})
}

// eachKey walks a mapping's pairs, refusing non-string and repeated keys and merge
// keys; keys visit does not take are unknown fields, reported with the known ones.
func (d *decoder) eachKey(n *yaml.Node, path string, depth int, known []string, visit func(key string, value *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		d.p.add(path, "want a mapping, not %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i], path, depth+1)
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
			d.p.add(path, "keys must be strings, not %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.p.add(join(path, k.Value), "YAML merge keys are not supported; write the keys out")
			continue
		}
		field := join(path, k.Value)
		if seen[k.Value] {
			d.p.add(field, "given twice")
			continue
		}
		seen[k.Value] = true
		if !visit(k.Value, n.Content[i+1]) {
			d.p.add(field, "unknown field; known fields are %s", strings.Join(known, ", "))
		}
	}
}

// parse parses a single YAML document into its root node; nil for an empty document.
func parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, fmt.Errorf("more than one YAML document; the sidecar reads only the first")
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}
