package sidecarconfig

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/gobwas/glob"
	"github.com/gobwas/glob/syntax"
)

// Host patterns (listener.skip_hosts, routes) are globs with `.` as the separator, as in
// the sidecar: `*` and `?` stay within a label, `**` crosses labels. They are matched
// against the host without its port.

// maxHostPattern bounds a host pattern: a DNS name has at most 253 characters.
const maxHostPattern = 253

// HostPattern is a compiled host glob.
type HostPattern struct {
	raw string
	g   *glob.Pattern
}

// CompileHostPattern compiles a host glob as the sidecar does.
func CompileHostPattern(pattern string) (*HostPattern, error) {
	if len(pattern) > maxHostPattern {
		return nil, fmt.Errorf("%d characters; a host name has at most %d", len(pattern), maxHostPattern)
	}
	g, err := glob.Compile(pattern, '.')
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid pattern: %s", pattern, strings.TrimPrefix(err.Error(), "glob: "))
	}
	return &HostPattern{raw: pattern, g: g}, nil
}

// Match reports whether host, with any port stripped, matches.
func (p *HostPattern) Match(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return p.g.Match(host)
}

func (p *HostPattern) String() string { return p.raw }

// matchesAll says which whole class of host names a pattern matches, if any: every
// name of one label (every short Service name, which is how in-cluster calls name their
// destination) or every name of two or more labels (every fully qualified name). Such
// a skip_hosts entry would switch the outbound pipeline off for all that traffic:
// `*`, `**`, `***`, `{**}`, `?*`, `{?,??*}` and `{[a-z],[0-9],-}*` all do. It decides this
// exactly, on the automaton of the pattern over the characters of DNS names.
func matchesAll(pattern string) (string, error) {
	n, err := parseGlob(pattern)
	if err != nil {
		return "", err
	}
	a := &nfa{}
	start, end := a.state(), a.state()
	a.build(n, start, end)
	a.accept = end
	for _, class := range []struct {
		what string
		lang hostLanguage
	}{
		{"every host name of one label (every short Service name)", oneLabel},
		{"every host name of two or more labels (every fully qualified name)", manyLabels},
	} {
		all, err := a.acceptsAll(start, class.lang)
		if err != nil {
			return "", err
		}
		if all {
			return class.what, nil
		}
	}
	return "", nil
}

// globNode is a parsed glob: a sequence, alternatives, or one matcher of a character.
type globNode struct {
	seq, alt []*globNode
	char     func(rune) bool // one character
	star     func(rune) bool // any number of such characters
}

func notSeparator(r rune) bool { return r != '.' }
func anyChar(rune) bool        { return true }

// parseGlob parses a pattern glob.Compile accepted into its structure.
func parseGlob(pattern string) (*globNode, error) {
	lex := syntax.NewLexer(pattern)
	n, closing, err := parseSeq(lex, 0)
	if err != nil {
		return nil, err
	}
	if closing != syntax.EOF {
		return nil, errors.New("unbalanced braces")
	}
	return n, nil
}

// parseSeq reads terms up to the end of the pattern or of an alternative.
func parseSeq(lex *syntax.Lexer, depth int) (*globNode, syntax.TokenType, error) {
	if depth > maxDepth {
		return nil, 0, errors.New("braces nested too deep")
	}
	seq := &globNode{}
	for {
		t := lex.Next()
		switch t.Type {
		case syntax.EOF, syntax.TermSeparator, syntax.TermsClose:
			return seq, t.Type, nil
		case syntax.Error:
			return nil, 0, errors.New(t.Data)
		case syntax.Text:
			for _, r := range t.Data {
				seq.seq = append(seq.seq, &globNode{char: func(c rune) bool { return c == r }})
			}
		case syntax.Any:
			seq.seq = append(seq.seq, &globNode{star: notSeparator})
		case syntax.Super:
			seq.seq = append(seq.seq, &globNode{star: anyChar})
		case syntax.Single:
			seq.seq = append(seq.seq, &globNode{char: notSeparator})
		case syntax.RangeOpen:
			c, err := parseClass(lex)
			if err != nil {
				return nil, 0, err
			}
			seq.seq = append(seq.seq, &globNode{char: c})
		case syntax.TermsOpen:
			alt := &globNode{}
			for {
				n, closing, err := parseSeq(lex, depth+1)
				if err != nil {
					return nil, 0, err
				}
				alt.alt = append(alt.alt, n)
				if closing == syntax.TermsClose {
					break
				}
				if closing != syntax.TermSeparator {
					return nil, 0, errors.New("unclosed {")
				}
			}
			seq.seq = append(seq.seq, alt)
		default:
			return nil, 0, fmt.Errorf("unexpected %v", t.Type)
		}
	}
}

// parseClass reads a character class after its `[`. Like the sidecar's matcher, a class
// takes any character, the separator too.
func parseClass(lex *syntax.Lexer) (func(rune) bool, error) {
	var (
		not    bool
		lo, hi rune = -1, -1
		set    string
	)
	for {
		t := lex.Next()
		switch t.Type {
		case syntax.Not:
			not = true
		case syntax.RangeLo:
			lo = []rune(t.Data)[0]
		case syntax.RangeHi:
			hi = []rune(t.Data)[0]
		case syntax.RangeBetween:
		case syntax.Text:
			set = t.Data
		case syntax.RangeClose:
			if lo >= 0 {
				return func(c rune) bool { return (lo <= c && c <= hi) != not }, nil
			}
			return func(c rune) bool { return strings.ContainsRune(set, c) != not }, nil
		default:
			return nil, errors.New("malformed character class")
		}
	}
}

// nfa is a nondeterministic automaton with ε-moves; states are numbers.
type nfa struct {
	eps    [][]int
	edges  [][]edge
	accept int
}

type edge struct {
	match func(rune) bool
	to    int
}

func (a *nfa) state() int {
	a.eps = append(a.eps, nil)
	a.edges = append(a.edges, nil)
	return len(a.eps) - 1
}

// build wires n between the states from and to.
func (a *nfa) build(n *globNode, from, to int) {
	switch {
	case n.char != nil:
		a.edges[from] = append(a.edges[from], edge{n.char, to})
	case n.star != nil:
		loop := a.state()
		a.eps[from] = append(a.eps[from], loop)
		a.edges[loop] = append(a.edges[loop], edge{n.star, loop})
		a.eps[loop] = append(a.eps[loop], to)
	case n.alt != nil:
		for _, m := range n.alt {
			a.build(m, from, to)
		}
	default:
		at := from
		for _, m := range n.seq {
			next := a.state()
			a.build(m, at, next)
			at = next
		}
		a.eps[at] = append(a.eps[at], to)
	}
}

// closure is the set of states reachable from set by ε-moves, as a sorted key.
func (a *nfa) closure(set []int) []int {
	seen := make([]bool, len(a.eps))
	stack := append([]int(nil), set...)
	for _, s := range set {
		seen[s] = true
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range a.eps[s] {
			if !seen[t] {
				seen[t] = true
				stack = append(stack, t)
			}
		}
	}
	var out []int
	for s, ok := range seen {
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func (a *nfa) step(set []int, c rune) []int {
	var next []int
	for _, s := range set {
		for _, e := range a.edges[s] {
			if e.match(c) {
				next = append(next, e.to)
			}
		}
	}
	return a.closure(next)
}

// hostLanguage is a deterministic automaton of a class of host names: transition(q, c)
// gives the next state or -1, final(q) says a name ends there.
type hostLanguage struct {
	transition func(q int, c rune) int
	final      func(q int) bool
}

func isLabelChar(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

// hostAlphabet are the characters of DNS names.
var hostAlphabet = []rune("abcdefghijklmnopqrstuvwxyz0123456789-.")

var (
	oneLabel = hostLanguage{
		transition: func(q int, c rune) int {
			if isLabelChar(c) {
				return 1
			}
			return -1
		},
		final: func(q int) bool { return q == 1 },
	}
	// States: 0 start, 1 in the first label, 2 after a dot, 3 in a later label.
	manyLabels = hostLanguage{
		transition: func(q int, c rune) int {
			switch {
			case isLabelChar(c) && q == 0:
				return 1
			case isLabelChar(c) && q == 1:
				return 1
			case isLabelChar(c):
				return 3
			case c == '.' && (q == 1 || q == 3):
				return 2
			}
			return -1
		},
		final: func(q int) bool { return q == 3 },
	}
)

// maxExplored bounds the subset construction.
const maxExplored = 20_000

// acceptsAll reports whether the automaton accepts every name of the language: it walks
// the product of the language's automaton and the subsets of the pattern's states, and
// looks for a name of the language that leaves the pattern in no accepting state.
func (a *nfa) acceptsAll(start int, lang hostLanguage) (bool, error) {
	type pos struct {
		q   int
		set []int
	}
	key := func(p pos) string { return fmt.Sprint(p.q, p.set) }
	first := pos{0, a.closure([]int{start})}
	seen := map[string]bool{key(first): true}
	queue := []pos{first}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range hostAlphabet {
			q := lang.transition(p.q, c)
			if q < 0 {
				continue
			}
			next := pos{q, a.step(p.set, c)}
			if lang.final(q) && !containsInt(next.set, a.accept) {
				return false, nil
			}
			k := key(next)
			if seen[k] {
				continue
			}
			if len(seen) >= maxExplored {
				return false, errors.New("too complex to check that it does not match every host")
			}
			seen[k] = true
			queue = append(queue, next)
		}
	}
	return true, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
