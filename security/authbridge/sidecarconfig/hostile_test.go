package sidecarconfig

import (
	"strings"
	"testing"
)

// TestHostileDocuments: whatever a repository or a pod's environment puts in the file,
// the loader answers with an error naming the problem, never a panic, and within its
// bounds.
func TestHostileDocuments(t *testing.T) {
	many := func(n int, s string) string { return strings.TrimSuffix(strings.Repeat(s, n), ",") }
	bomb := "s: &s /mcp\nbig: &big [" + many(1000, "*s,") + "]\ne: &e {name: mcp-parser, config: {paths: *big}}\nmode: proxy-sidecar\nlistener: {reverse_proxy_backend: 'http://127.0.0.1:1'}\nspiffe: {}\npipeline: {inbound: {plugins: [" + many(1000, "*e,") + "]}}\n"
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		want string
	}{
		{"over a MiB", "mode: proxy-sidecar\n#" + strings.Repeat("x", MaxBytes), nil, "over the limit of 1048576"},
		{"over a MiB once expanded", "a: ${BIG}${BIG}\nmode: proxy-sidecar\n", map[string]string{"BIG": strings.Repeat("x", MaxBytes/2+1)}, "once the environment is expanded, over the limit"},
		{"not UTF-8", "mode: proxy-sidecar\nstats: {address: \"\xff:9093\"}\n", nil, "not UTF-8"},
		{"UTF-16", "\xff\xfem\x00o\x00d\x00e\x00", nil, "not UTF-8"},
		{"control characters", "mode: \x00\n", nil, "not YAML"},
		{"nested lists beyond the parser's bound", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), nil, "not YAML"},
		{"nested mappings in a plugin config", valid + "stats: " + strings.Repeat("{a: ", 40) + "1" + strings.Repeat("}", 40) + "\n", nil, "stats.a: unknown field"},
		{"nested beyond the decoder's bound", "mode: proxy-sidecar\npipeline: {inbound: {plugins: [{name: jwt-validation, config: {allowed_audiences: " + strings.Repeat("[", 40) + "x" + strings.Repeat("]", 40) + "}}]}}\n", nil, "want a string, not a list"},
		{"alias expansion", bomb, nil, "more than 100000 YAML nodes"},
		{"alias of a key", "k: &k mode\n*k : proxy-sidecar\n", nil, "listener.reverse_proxy_backend: required"},
		{"tagged value", "mode: !!binary cHJveHktc2lkZWNhcg==\n", nil, "mode: want a string"},
		{"custom tag", "mode: !proxy proxy-sidecar\n", nil, "mode: want a string"},
		{"non-string key", "1: x\nmode: proxy-sidecar\n", nil, "keys must be strings"},
		{"complex key", "? [a]\n: x\nmode: proxy-sidecar\n", nil, "keys must be strings, not a list"},
		{"null plugin entry", "mode: waypoint\npipeline: {inbound: {plugins: [~]}}\n", nil, "pipeline.inbound.plugins[0].name: required"},
		{"huge list of errors", "mode: waypoint\nlistener: {skip_hosts: [" + many(5000, "'*',") + "]}\n", nil, "listener.skip_hosts[4999]"},
		{"long patterns, decided quickly: an empty alternative makes the second a *", "mode: waypoint\nlistener: {skip_hosts: ['*a" + strings.Repeat("?", 40) + "', '" + strings.Repeat("{a,", 30) + strings.Repeat("}", 30) + "*']}\n", nil, "skip_hosts[1]"},
		{"pattern that is not a host", "mode: waypoint\nlistener: {skip_hosts: ['" + strings.Repeat("a", 300) + "']}\n", nil, "300 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(name string) (string, bool) { v, ok := tt.env[name]; return v, ok }
			c, err := Load([]byte(tt.doc), env)
			if err == nil {
				_, err = c.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) {
				if len(msg) > 2000 {
					msg = msg[:2000]
				}
				t.Errorf("error lacks %q:\n%s", tt.want, msg)
			}
		})
	}
}

// FuzzLoad: no input makes Load, Validate or LoadRoutes panic. The seeds run with every
// go test; go test -fuzz FuzzLoad explores further.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{valid, "mode: waypoint", "- host: a\n  action: passthrough", "routes:\n- host: x", "{a: *b}", "&a [*a]", "listener: {skip_hosts: ['{[!a]*,?}**']}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := Load(data, nil); err == nil {
			_, _ = c.Validate()
		}
		_, _ = LoadRoutes(data)
	})
}
