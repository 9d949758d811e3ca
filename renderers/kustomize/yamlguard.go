package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	yamlv3 "go.yaml.in/yaml/v3"
)

// yamlBounds bound one YAML file before kustomize parses it: kustomize expands aliases
// when it converts documents, and its cost grows faster than the nesting depth.
type yamlBounds struct {
	depth int // nesting of mappings and sequences
	nodes int // nodes of the file with every alias expanded
}

// yamlFacts is what the guard learnt about a file that passed.
type yamlFacts struct {
	// documents that are not empty: each becomes at least one object.
	documents int
}

// guardYAML checks a YAML (or JSON) file against the bounds and refuses what would
// silently change its meaning: a key given twice in one mapping (kustomize and the API
// server keep one of the two). The errors carry the line; the caller adds the file.
func guardYAML(data []byte, b yamlBounds) (yamlFacts, error) {
	var facts yamlFacts
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	g := &guard{bounds: b, anchors: map[*yamlv3.Node]expansion{}, expanding: map[*yamlv3.Node]bool{}}
	for {
		var doc yamlv3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return facts, nil
		}
		if err != nil {
			return facts, fmt.Errorf("not valid YAML: %s", trimYAMLError(err))
		}
		if err := g.walk(&doc); err != nil {
			return facts, err
		}
		if !emptyDocument(&doc) {
			facts.documents++
		}
	}
}

type guard struct {
	bounds yamlBounds
	total  int
	// anchors memoises the expansion of anchored nodes, so a chain of aliases costs its
	// length, not its expansion.
	anchors map[*yamlv3.Node]expansion
	// expanding are the anchors being expanded: an alias to one of them is a cycle.
	expanding map[*yamlv3.Node]bool
}

// expansion is what a node stands for once aliases are expanded.
type expansion struct {
	nodes  int
	height int // levels below the node
}

// walk visits a document, counting its nodes with aliases expanded.
func (g *guard) walk(n *yamlv3.Node) error {
	e, err := g.expand(n, 0)
	if err != nil {
		return err
	}
	if g.total += e.nodes; g.total > g.bounds.nodes {
		return g.tooMany(n)
	}
	return nil
}

func (g *guard) expand(n *yamlv3.Node, depth int) (expansion, error) {
	if depth > g.bounds.depth {
		return expansion{}, g.tooDeep(n)
	}
	if n.Kind == yamlv3.AliasNode {
		if n.Alias == nil {
			return expansion{nodes: 1}, nil
		}
		if g.expanding[n.Alias] {
			// kustomize would expand it forever (and overflow its stack).
			return expansion{}, fmt.Errorf("line %d: the alias *%s is inside its own anchor: a YAML document that never ends", n.Line, n.Value)
		}
		e, err := g.anchored(n.Alias, depth)
		if err != nil {
			return e, err
		}
		if depth+e.height > g.bounds.depth {
			return e, g.tooDeep(n)
		}
		return e, nil
	}
	if n.Kind == yamlv3.MappingNode {
		if err := duplicateKeys(n); err != nil {
			return expansion{}, err
		}
	}
	total := expansion{nodes: 1}
	for _, c := range n.Content {
		var e expansion
		var err error
		if c.Anchor != "" {
			e, err = g.anchored(c, depth+1)
		} else {
			e, err = g.expand(c, depth+1)
		}
		if err != nil {
			return e, err
		}
		total.nodes += e.nodes
		total.height = max(total.height, e.height+1)
		if total.nodes > g.bounds.nodes {
			return total, g.tooMany(n)
		}
	}
	return total, nil
}

// anchored expands an anchored node once.
func (g *guard) anchored(n *yamlv3.Node, depth int) (expansion, error) {
	if e, ok := g.anchors[n]; ok {
		return e, nil
	}
	g.expanding[n] = true
	e, err := g.expand(n, depth)
	delete(g.expanding, n)
	if err != nil {
		return e, err
	}
	g.anchors[n] = e
	return e, nil
}

func (g *guard) tooDeep(n *yamlv3.Node) error {
	return &boundError{limit: "limits.yamlDepth", max: g.bounds.depth, what: fmt.Sprintf("line %d: YAML nested deeper than %d levels", n.Line, g.bounds.depth)}
}

func (g *guard) tooMany(n *yamlv3.Node) error {
	return &boundError{limit: "limits.yamlNodes", max: g.bounds.nodes, what: fmt.Sprintf("line %d: more than %d YAML nodes with the aliases expanded", n.Line, g.bounds.nodes)}
}

// duplicateKeys refuses a mapping that gives one key twice. Merge keys ("<<") may repeat
// as YAML allows.
func duplicateKeys(m *yamlv3.Node) error {
	if len(m.Content) < 4 {
		return nil
	}
	seen := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yamlv3.ScalarNode || k.Tag == "!!merge" {
			continue
		}
		key := k.Tag + "\x00" + k.Value
		if first, dup := seen[key]; dup {
			return fmt.Errorf("line %d: key %s is given twice in one mapping (first at line %d)", k.Line, strconv.Quote(k.Value), first)
		}
		seen[key] = k.Line
	}
	return nil
}

// emptyDocument reports a document with nothing in it (only comments, or null).
func emptyDocument(doc *yamlv3.Node) bool {
	if doc.Kind != yamlv3.DocumentNode || len(doc.Content) == 0 {
		return true
	}
	c := doc.Content[0]
	return c.Kind == yamlv3.ScalarNode && c.Tag == "!!null"
}

// trimYAMLError drops the library's "yaml: " prefix.
func trimYAMLError(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "yaml: " {
		return s[6:]
	}
	return s
}

// boundError is a limit a file exceeded; the tree turns it into the Platform's
// LimitError with the file.
type boundError struct {
	limit string
	max   int
	what  string
}

func (e *boundError) Error() string {
	return fmt.Sprintf("%s, over the bound %d (Platform %s)", e.what, e.max, e.limit)
}
