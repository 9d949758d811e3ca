package sidecarconfig

import (
	"errors"
	"fmt"
	"strings"
)

// Variable is an environment variable a document refers to as $NAME or ${NAME}.
type Variable struct {
	Name string `json:"name"`
	// Defined says the environment had it, so its value replaced the reference; an
	// undefined one is kept as the literal text ${NAME}, as the sidecar does.
	Defined bool `json:"defined"`
	// Field is where the reference is, when the document parses before expansion.
	Field string `json:"field,omitempty"`
}

// expand replaces the variable references of s the way the sidecar does (Go's
// os.Expand with a mapping that keeps undefined references as ${NAME}): $NAME, ${NAME},
// and the one-character shell names ($1, $$, ${?} ...); a $ followed by anything else
// stays. Where os.Expand silently drops characters (an empty ${} or a ${ with no closing
// brace) this refuses the document instead.
func expand(s string, env func(string) (string, bool)) (string, []string, map[string]bool, error) {
	var (
		b       strings.Builder
		names   []string
		defined = map[string]bool{}
	)
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		name, width, err := referenceAt(s[i+1:])
		if err != nil {
			return "", nil, nil, fmt.Errorf("line %d: %w", strings.Count(s[:i], "\n")+1, err)
		}
		if name == "" {
			b.WriteByte('$')
			continue
		}
		if _, seen := defined[name]; !seen {
			names = append(names, name)
		}
		value, ok := "", false
		if env != nil {
			value, ok = env(name)
		}
		defined[name] = ok
		if ok {
			b.WriteString(value)
		} else {
			b.WriteString("${" + name + "}")
		}
		i += width
	}
	return b.String(), names, defined, nil
}

// referenceAt reads the variable name after a $: the name and how many bytes it takes,
// or "" when the $ is literal.
func referenceAt(s string) (string, int, error) {
	switch {
	case s[0] == '{':
		if len(s) > 2 && isShellSpecial(s[1]) && s[2] == '}' {
			return s[1:2], 3, nil
		}
		end := strings.IndexByte(s, '}')
		switch end {
		case -1:
			return "", 0, errors.New("${ without a closing }: the sidecar would drop the ${; write $ as part of a value only where no name follows it")
		case 1:
			return "", 0, errors.New("empty ${}: the sidecar would drop it")
		}
		return s[1:end], end + 1, nil
	case isShellSpecial(s[0]):
		return s[:1], 1, nil
	}
	n := 0
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	return s[:n], n, nil
}

func isShellSpecial(c byte) bool {
	return strings.IndexByte("*#$@!?-0123456789", c) >= 0
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// references lists the variable names a string refers to (for locating them by field).
func references(s string) []string {
	_, names, _, err := expand(s, nil)
	if err != nil {
		return nil
	}
	return names
}
