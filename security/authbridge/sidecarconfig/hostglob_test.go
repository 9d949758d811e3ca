package sidecarconfig

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/glob"
)

func TestHostPatternsMatchAsTheSidecars(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"*.svc.cluster.local", []string{"a.svc.cluster.local", "a.svc.cluster.local:8080"}, []string{"a.b.svc.cluster.local", "svc.cluster.local"}},
		{"**.svc.cluster.local", []string{"a.b.svc.cluster.local", "a.svc.cluster.local"}, []string{"svc.cluster.local.evil"}},
		{"otel-collector*", []string{"otel-collector", "otel-collector-2:4318"}, []string{"otel-collector.ns"}},
		{"?at", []string{"cat"}, []string{"at", ".at"}},
		{"{a,b}.example", []string{"a.example", "b.example"}, []string{"c.example"}},
	}
	for _, tt := range tests {
		p, err := CompileHostPattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range tt.match {
			if !p.Match(h) {
				t.Errorf("%q does not match %q", tt.pattern, h)
			}
		}
		for _, h := range tt.miss {
			if p.Match(h) {
				t.Errorf("%q matches %q", tt.pattern, h)
			}
		}
	}
}

func TestMatchesAll(t *testing.T) {
	oneLabel := []string{"*", "**", "***", "****", "{**}", "{*}", "?*", "*?", "*?*", "{?,??*}", "{*,x}", "{[a-z],[0-9],-}*", "{[a-m]*,[!a-m]*}", "{**,a}", "[!.]*", "{,?}*", "**?"}
	manyLabels := []string{"*.**", "**.*", "**.**", "?*.**", "{*.*,*.*.**}"}
	broadButNotAll := []string{"*.*", "*.*.*", "a*", "*a", "?", "??*a", "[a-y]*", "{?,???*}", "*.svc.cluster.local", "**.svc.cluster.local", "otel-*", "*-collector", "{a,b}*", "x**"}
	for _, p := range oneLabel {
		if got, err := matchesAll(p); err != nil || !strings.Contains(got, "one label") {
			t.Errorf("matchesAll(%q) = %q, %v; want every name of one label", p, got, err)
		}
	}
	for _, p := range manyLabels {
		if got, err := matchesAll(p); err != nil || !strings.Contains(got, "two or more") {
			t.Errorf("matchesAll(%q) = %q, %v; want every name of two or more labels", p, got, err)
		}
	}
	for _, p := range broadButNotAll {
		if got, err := matchesAll(p); err != nil || got != "" {
			t.Errorf("matchesAll(%q) = %q, %v; want none", p, got, err)
		}
	}
}

// TestAutomatonIsTheGlob holds the automaton matchesAll decides on to the sidecar's
// matcher: random patterns, random hosts, the same answer.
func TestAutomatonIsTheGlob(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	parts := []string{"a", "b", "-", ".", "*", "**", "?", "[ab]", "[!a]", "[a-b]", "[!.]", "{a,b.}", "{*,?}", "{,a}", "\\*"}
	hostChars := []string{"a", "b", "c", "-", ".", "*"}
	for range 3000 {
		var pb strings.Builder
		for range 1 + r.IntN(5) {
			pb.WriteString(parts[r.IntN(len(parts))])
		}
		pattern := pb.String()
		g, err := glob.Compile(pattern, '.')
		if err != nil {
			continue
		}
		n, err := parseGlob(pattern)
		if err != nil {
			t.Fatalf("parseGlob(%q): %v", pattern, err)
		}
		a := &nfa{}
		start, end := a.state(), a.state()
		a.build(n, start, end)
		for range 30 {
			var hb strings.Builder
			for range r.IntN(7) {
				hb.WriteString(hostChars[r.IntN(len(hostChars))])
			}
			host := hb.String()
			set := a.closure([]int{start})
			for _, c := range host {
				set = a.step(set, c)
			}
			if got, want := slices.Contains(set, end), g.Match(host); got != want {
				t.Fatalf("pattern %q, host %q: automaton %v, glob %v", pattern, host, got, want)
			}
		}
	}
}
