package policy

import (
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/trustsync/trustsync/internal/generations"
)

// A policy is a pure function of its bundle and its input: Capabilities refuses every
// built-in that reads the clock, the network, randomness or the environment. So a
// decision can be remembered, keyed on exactly the input fields the point's rules can
// read, and a repeated caller (the same client, peer, method and tool as a call before)
// is answered without an evaluation. Which fields those are is read from the compiled
// rules once per bundle; a point whose rules read the input whole, or at a key not
// known before evaluation (input[x]), has no memo.

// memoEntries bounds a point's memo: two generations of this many decisions each.
// memoKeyBytes bounds one key; an input whose read fields are larger is evaluated.
const (
	memoEntries  = 4096
	memoKeyBytes = 1024
)

// memo remembers the decisions of one point, in two generations of memoEntries (package
// generations): the callers seen recently stay and the memory is bounded.
type memo struct {
	// reads are the input fields the point's rules can read, as paths below input,
	// sorted, none a prefix of another.
	reads []ast.Ref
	// fields are the top-level keys of reads.
	fields Fields

	decisions generations.Map[string, Decision]
}

// newMemo is the memo of the decision at query, nil when its rules read the input
// whole or at a key computed during the evaluation.
func newMemo(c *ast.Compiler, query ast.Ref) *memo {
	reads, ok := inputReads(c, query)
	if !ok {
		return nil
	}
	m := &memo{reads: reads, fields: Fields{some: true}}
	m.decisions.Size = memoEntries
	for _, r := range reads {
		if k, ok := r[1].Value.(ast.String); ok && !slices.Contains(m.fields.keys, string(k)) {
			m.fields.keys = append(m.fields.keys, string(k))
		}
	}
	return m
}

// Fields are the top-level keys of the input document a decision can read, so that a
// caller building the input may leave the others out: the decision is the same. The
// zero value is every key.
type Fields struct {
	keys []string
	some bool
}

// Has reports whether a decision can read the input's key k.
func (f Fields) Has(k string) bool { return !f.some || slices.Contains(f.keys, k) }

// inputReads lists the input fields the rules reachable from query can read, each as
// the constant prefix of a ref rooted at input; ok is false when one of them is the
// input itself. Rules are followed through every ref into data (a rule or function
// called, a package's document read whole, a with target), so the list covers every
// rule the evaluation can reach.
func inputReads(c *ast.Compiler, query ast.Ref) (reads []ast.Ref, ok bool) {
	seen := map[*ast.Rule]bool{}
	var queue []*ast.Rule
	follow := func(r ast.Ref) {
		for _, rule := range c.GetRules(r.ConstantPrefix()) {
			if !seen[rule] {
				seen[rule] = true
				queue = append(queue, rule)
			}
		}
	}
	whole := false
	var visit func(x any)
	visitor := ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			switch {
			case x[0].Equal(ast.InputRootDocument):
				p := x.ConstantPrefix()
				if len(p) == 1 {
					whole = true
				}
				reads = append(reads, p)
			case x[0].Equal(ast.DefaultRootDocument):
				follow(x)
			}
			// The ref's own terms may hold refs (input.a[input.b], data.roles[input.user]);
			// its head is not a bare root document.
			for _, t := range x[1:] {
				visit(t)
			}
			return true
		case ast.Var:
			// A root document as a value (x := input, walk(data)) is read whole.
			switch {
			case x.Equal(ast.InputRootDocument.Value):
				whole = true
			case x.Equal(ast.DefaultRootDocument.Value):
				follow(ast.DefaultRootRef)
			}
		}
		return false
	})
	visit = func(x any) { visitor.Walk(x) }
	follow(query)
	for len(queue) > 0 && !whole {
		rule := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for r := rule; r != nil; r = r.Else {
			visit(r)
		}
	}
	if whole {
		return nil, false
	}
	slices.SortFunc(reads, func(a, b ast.Ref) int { return a.Compare(b) })
	reads = slices.CompactFunc(reads, func(a, b ast.Ref) bool { return a.Equal(b) })
	// A read of input.a covers input.a.b: keep the shortest.
	minimal := reads[:0]
	for _, r := range reads {
		if len(minimal) == 0 || !r.HasPrefix(minimal[len(minimal)-1]) {
			minimal = append(minimal, r)
		}
	}
	return minimal, true
}

// key is the memo key of input: each read field's value in OPA's own syntax, which
// tells distinct values apart (strings quoted, an absent field marked), or false when
// the key would exceed memoKeyBytes.
func (m *memo) key(input ast.Value) (string, bool) {
	var b strings.Builder
	for _, r := range m.reads {
		v := lookup(input, r[1:])
		if v == nil {
			b.WriteString("\x00;")
			continue
		}
		s := v.String()
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		if b.Len() > memoKeyBytes {
			return "", false
		}
	}
	return b.String(), true
}

// lookup is the value at path below v, nil when there is none (as the ref would be
// undefined).
func lookup(v ast.Value, path ast.Ref) ast.Value {
	for _, t := range path {
		switch x := v.(type) {
		case ast.Object:
			e := x.Get(t)
			if e == nil {
				return nil
			}
			v = e.Value
		case *ast.Array:
			n, ok := t.Value.(ast.Number)
			if !ok {
				return nil
			}
			i, ok := n.Int()
			if !ok || i < 0 || i >= x.Len() {
				return nil
			}
			v = x.Elem(i).Value
		case ast.Set:
			if !x.Contains(t) {
				return nil
			}
			v = t.Value
		default:
			return nil
		}
	}
	return v
}

func (m *memo) get(k string) (Decision, bool) { return m.decisions.Get(k) }

func (m *memo) put(k string, d Decision) { m.decisions.Put(k, d) }
