package sidecarconfig

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

var testEnv = map[string]string{"ISSUER": "https://kc.example/realms/a", "A": "x", "EMPTY": "", "1": "one", "$": "dollar"}

func lookup(name string) (string, bool) { v, ok := testEnv[name]; return v, ok }

// upstream is the sidecar's own expansion: os.Expand keeping undefined references.
func upstream(s string) string {
	return os.Expand(s, func(name string) string {
		if v, ok := lookup(name); ok {
			return v
		}
		return "${" + name + "}"
	})
}

func TestExpandIsTheSidecars(t *testing.T) {
	tests := []struct{ in, want string }{
		{"issuer: ${ISSUER}", "issuer: https://kc.example/realms/a"},
		{"issuer: $ISSUER/x", "issuer: https://kc.example/realms/a/x"},
		{"a: ${UNSET}", "a: ${UNSET}"},
		{"a: $UNSET", "a: ${UNSET}"},
		{"a: $EMPTY.", "a: ."},
		{"secret: pa$$word", "secret: padollarword"},
		{"a: $1 $", "a: one $"},
		{"a: $ b", "a: $ b"},
		{"a: ${A}${A}$A", "a: xxx"},
		{"a: ${a b}", "a: ${a b}"},
		{"no dollar", "no dollar"},
	}
	for _, tt := range tests {
		got, _, _, err := expand(tt.in, lookup)
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if u := upstream(tt.in); u != tt.want {
			t.Errorf("the test is wrong: os.Expand(%q) = %q", tt.in, u)
		}
	}
	// Random text: wherever expand accepts, it is os.Expand.
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"$", "{", "}", "A", "B", "_", "1", "$$", " ", "x", "ISSUER", "\n", "#", "-", "é"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		s := b.String()
		got, _, _, err := expand(s, lookup)
		if err != nil {
			if !strings.Contains(s, "${") {
				t.Errorf("expand(%q) refused, yet it has no ${: %v", s, err)
			}
			continue
		}
		if want := upstream(s); got != want {
			t.Fatalf("expand(%q) = %q, os.Expand gives %q", s, got, want)
		}
	}
}

func TestExpandRefusesWhatTheSidecarWouldDrop(t *testing.T) {
	for _, in := range []string{"a: ${}", "a: ${ISSUER", "a: x\nb: ${"} {
		if _, _, _, err := expand(in, lookup); err == nil {
			t.Errorf("expand(%q) accepted; os.Expand gives %q", in, upstream(in))
		}
	}
}
