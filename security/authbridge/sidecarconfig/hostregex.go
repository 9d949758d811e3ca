package sidecarconfig

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// HostGlobOfRegex is the host glob that matches exactly the hosts the regular expression
// matches (whole, as Istio and Envoy match regexes), for an AgentRuntime's
// spec.auth.outbound[].destination.hostRegex: the sidecar's routes take globs only.
// Upstream's operator writes hostRegex into routes.yaml unchanged, where the sidecar
// reads it as a glob (rossoctl/operator#520), so `.*\.team1\.svc` matches no host there.
//
// The regex language is larger than the glob's, so only what has an exact glob form
// converts: literal host characters, `\.`, `.` (any character), `[^.]` (one character of
// a label), classes of host characters, `.*` and `[^.]*` (and `+`), `?`, bounded
// repeats, alternatives and groups, with `^` and `$` at the ends. Anything else (a
// repeated class or group, case folding, a line anchor) is refused with the reason.
func HostGlobOfRegex(expr string) (string, error) {
	if len(expr) > MaxHostRegex {
		return "", fmt.Errorf("%d characters, over the bound %d", len(expr), MaxHostRegex)
	}
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("not a regular expression: %v", err)
	}
	c := &regexGlob{}
	if err := c.convert(stripAnchors(re), 0); err != nil {
		return "", err
	}
	glob := c.out.String()
	if glob == "" {
		return "", errors.New("matches only the empty host")
	}
	if _, err := CompileHostPattern(glob); err != nil {
		return "", fmt.Errorf("its glob %s: %v", glob, err)
	}
	return glob, nil
}

// MaxHostRegex bounds a hostRegex, as the AgentRuntime CRD does.
const MaxHostRegex = 512

// regexGlob writes a regex as a glob, within the bound of a host pattern: a regex that
// expands (bounded repeats) beyond it is refused before it is built.
type regexGlob struct{ out strings.Builder }

func (c *regexGlob) write(s string) error {
	c.out.WriteString(s)
	if c.out.Len() > maxHostPattern {
		return fmt.Errorf("its glob would be longer than %d characters, the longest host pattern", maxHostPattern)
	}
	return nil
}

// stripAnchors drops ^ and $ at the ends: the glob always matches the whole host.
func stripAnchors(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpBeginText, syntax.OpEndText:
		return &syntax.Regexp{Op: syntax.OpEmptyMatch}
	case syntax.OpConcat:
		subs := re.Sub
		if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
			subs = subs[1:]
		}
		if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
			subs = subs[:len(subs)-1]
		}
		return &syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
	}
	return re
}

// charKind sorts a single-character regex by what the glob has for it.
type charKind int

const (
	charOther    charKind = iota
	charAny               // any character, a dot too
	charInLabel           // any character but a dot: the glob's ?
	charHostOnly          // host characters only, which the glob writes as a class or literal
)

func kindOf(re *syntax.Regexp) charKind {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	switch re.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return charAny // hosts hold no newline
	case syntax.OpCharClass:
		missing := complement(re.Rune)
		switch {
		case len(missing) == 0 || (len(missing) == 1 && missing[0] == '\n'):
			return charAny
		case sameRunes(missing, ".") || sameRunes(missing, "\n."):
			return charInLabel
		}
		for i := 0; i < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if !isHostChar(r) {
					return charOther
				}
			}
		}
		return charHostOnly
	}
	return charOther
}

// complement lists the runes a class leaves out, up to three (enough to tell [^.]).
func complement(ranges []rune) []rune {
	var out []rune
	next := rune(0)
	for i := 0; i < len(ranges) && len(out) <= 3; i += 2 {
		for r := next; r < ranges[i] && len(out) <= 3; r++ {
			out = append(out, r)
		}
		next = ranges[i+1] + 1
	}
	for r := next; r <= unicode.MaxRune && len(out) <= 3; r++ {
		out = append(out, r)
	}
	return out
}

func sameRunes(rs []rune, s string) bool { return string(rs) == s }

func isHostChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
}

// maxRegexDepth bounds the nesting of groups, as the glob's braces are bounded.
const maxRegexDepth = maxDepth

func (c *regexGlob) convert(re *syntax.Regexp, depth int) error {
	if depth > maxRegexDepth {
		return errors.New("groups nested too deep")
	}
	switch re.Op {
	case syntax.OpEmptyMatch:
		return nil
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return errors.New("it matches case-insensitively ((?i)), and host globs compare exactly: write the case the agent's requests use")
		}
		for _, r := range re.Rune {
			if !isHostChar(r) {
				return fmt.Errorf("%q cannot occur in a host name", r)
			}
		}
		return c.write(string(re.Rune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpCharClass:
		return c.char(re)
	case syntax.OpCapture:
		return c.convert(re.Sub[0], depth+1)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if err := c.convert(s, depth); err != nil {
				return err
			}
		}
		return nil
	case syntax.OpAlternate:
		return c.alternatives(len(re.Sub), func(i int) error { return c.convert(re.Sub[i], depth+1) })
	case syntax.OpQuest:
		return c.alternatives(2, func(i int) error {
			if i == 0 {
				return c.convert(re.Sub[0], depth+1)
			}
			return nil
		})
	case syntax.OpStar:
		return c.star(re.Sub[0])
	case syntax.OpPlus:
		if err := c.convert(re.Sub[0], depth+1); err != nil {
			return err
		}
		return c.star(re.Sub[0])
	case syntax.OpRepeat:
		return c.repeat(re, depth)
	case syntax.OpBeginText, syntax.OpEndText:
		return errors.New("^ and $ are read only at its ends: the whole host is matched")
	case syntax.OpBeginLine, syntax.OpEndLine:
		return errors.New("line anchors ((?m)) have no glob form")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return errors.New(`word boundaries (\b, \B) have no glob form`)
	}
	return errors.New("it matches no host")
}

// char writes a single-character regex.
func (c *regexGlob) char(re *syntax.Regexp) error {
	switch kindOf(re) {
	case charAny:
		return c.write("{?,.}")
	case charInLabel:
		return c.write("?")
	case charHostOnly:
		// The glob's class is one range or one list, so a class of several is written
		// as alternatives.
		var items []string
		for i := 0; i < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for lo <= hi && (lo == '.' || lo == '-' || lo == '_' || lo == hi) {
				items = append(items, string(lo))
				lo++
			}
			if lo < hi {
				items = append(items, "["+string(lo)+"-"+string(hi)+"]")
			} else if lo == hi {
				items = append(items, string(lo))
			}
		}
		if len(items) == 1 {
			return c.write(items[0])
		}
		return c.write("{" + strings.Join(items, ",") + "}")
	}
	return fmt.Errorf("the class %s holds characters that cannot occur in a host name; a glob's classes are of host characters, or [^.] (its ?)", re)
}

// star writes sub repeated any number of times, which the glob has only for single
// characters: ** for any, * for any but the dot.
func (c *regexGlob) star(sub *syntax.Regexp) error {
	switch kindOf(sub) {
	case charAny:
		return c.write("**")
	case charInLabel:
		return c.write("*")
	}
	return fmt.Errorf("it repeats %s, and a glob repeats only any character (.* is **) or any but the dot ([^.]* is *)", sub)
}

func (c *regexGlob) repeat(re *syntax.Regexp, depth int) error {
	sub := re.Sub[0]
	for range re.Min {
		if err := c.convert(sub, depth+1); err != nil {
			return err
		}
	}
	switch {
	case re.Max == -1:
		return c.star(sub)
	case re.Max > re.Min:
		// {,X,XX,...}: each count of the optional ones.
		return c.alternatives(re.Max-re.Min+1, func(i int) error {
			for range i {
				if err := c.convert(sub, depth+1); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return nil
}

// alternatives writes {a,b,...} with each alternative written by alt.
func (c *regexGlob) alternatives(n int, alt func(int) error) error {
	if err := c.write("{"); err != nil {
		return err
	}
	for i := range n {
		if i > 0 {
			if err := c.write(","); err != nil {
				return err
			}
		}
		if err := alt(i); err != nil {
			return err
		}
	}
	return c.write("}")
}
