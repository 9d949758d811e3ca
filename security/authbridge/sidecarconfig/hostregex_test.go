package sidecarconfig

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// sampleHosts are host names to compare a regex and its glob on: the given ones, and
// random names over the characters the patterns use.
func sampleHosts(r *rand.Rand, given ...string) []string {
	const chars = "ab19-._.."
	hosts := append([]string{}, given...)
	for range 3000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteByte(chars[r.IntN(len(chars))])
		}
		hosts = append(hosts, b.String())
	}
	// Each given host with a label added before and after, and a character dropped.
	for _, h := range given {
		hosts = append(hosts, "x."+h, h+".x", "x"+h, h+"x")
		if len(h) > 1 {
			hosts = append(hosts, h[1:], h[:len(h)-1])
		}
	}
	return hosts
}

// TestHostGlobOfRegex: a hostRegex converts to the glob upstream's sidecar would need,
// and the glob matches exactly the hosts the regex matches whole.
func TestHostGlobOfRegex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		regex, glob string
		hosts       []string // some hosts it must match
	}{
		// upstream's CRD example
		{`.*\.team1\.svc\.cluster\.local`, "**.team1.svc.cluster.local", []string{"weather.team1.svc.cluster.local", "a.b.team1.svc.cluster.local"}},
		{`^.+\.team1\.svc$`, "{?,.}**.team1.svc", []string{"a.team1.svc"}},
		{`^[^.]+\.team1\.svc$`, "?*.team1.svc", []string{"weather-tool.team1.svc"}},
		{`weather-tool-mcp\.team1\.svc\.cluster\.local`, "weather-tool-mcp.team1.svc.cluster.local", []string{"weather-tool-mcp.team1.svc.cluster.local"}},
		{`(weather|calendar)-tool`, "{weather,calendar}-tool", []string{"weather-tool", "calendar-tool"}},
		{`(.*\.)?team1\.svc`, "{**.,}team1.svc", []string{"team1.svc", "a.team1.svc"}},
		{`tool-[0-9]\.team1`, "tool-[0-9].team1", []string{"tool-1.team1"}},
		{`tool-[a-b1-9_.-]`, "tool-{-,.,[1-9],_,[a-b]}", []string{"tool-a", "tool-.", "tool-_", "tool--", "tool-9"}},
		{`a[^.]b`, "a?b", []string{"a1b"}},
		{`a.b`, "a{?,.}b", []string{"a1b", "a.b"}},
		{`ab{2}\.x`, "abb.x", []string{"abb.x"}},
		{`ab{1,3}`, "ab{,b,bb}", []string{"ab", "abbb"}},
		{`a(b.)?`, "a{b{?,.},}", []string{"a", "ab1", "ab."}},
		{`a.{2,}`, "a{?,.}{?,.}**", []string{"a12", "a1.2.3"}},
		{`[^.]*-svc`, "*-svc", []string{"-svc", "ab-svc"}},
	}
	for _, tt := range tests {
		got, err := HostGlobOfRegex(tt.regex)
		if err != nil {
			t.Errorf("HostGlobOfRegex(%q): %v", tt.regex, err)
			continue
		}
		if got != tt.glob {
			t.Errorf("HostGlobOfRegex(%q) = %q, want %q", tt.regex, got, tt.glob)
		}
		g, err := CompileHostPattern(got)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^(?:` + tt.regex + `)$`)
		matched := 0
		for _, h := range sampleHosts(r, tt.hosts...) {
			if want := re.MatchString(h); g.g.Match(h) != want {
				t.Errorf("regex %q matches %q: %v; its glob %q: %v", tt.regex, h, want, got, !want)
			} else if want {
				matched++
			}
		}
		if matched < len(tt.hosts) {
			t.Errorf("regex %q: only %d hosts matched, want at least the %d given", tt.regex, matched, len(tt.hosts))
		}
	}
}

func TestHostGlobOfRegexRefuses(t *testing.T) {
	for regex, want := range map[string]string{
		`[a-z0-9-]+\.team1`:      "repeats",
		`(ab)*\.svc`:             "repeats",
		`(?i)weather`:            "case-insensitively",
		`tool:8080`:              `':' cannot occur in a host name`,
		`a\bb`:                   "word boundaries",
		`(?m)^a$`:                "line anchors",
		`a^b`:                    "read only at its ends",
		`[^a]`:                   "cannot occur in a host name",
		`(`:                      "not a regular expression",
		`^$`:                     "only the empty host",
		strings.Repeat("a", 513): "over the bound 512",
		`(a|b){200}`:             "longer than 253",
		`a{1000}`:                "longer than 253",
		`[^z]x`:                  "class",
		`x\pLy`:                  "class",
		strings.Repeat("(", 40):  "not a regular expression",
		strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40): "nested too deep",
	} {
		got, err := HostGlobOfRegex(regex)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("HostGlobOfRegex(%q) = %q, %v; want an error saying %q", regex, got, err, want)
		}
	}
}
