package sidecarconfig

import (
	"strings"
	"testing"
)

func TestLoadRoutes(t *testing.T) {
	routes, err := LoadRoutes([]byte(`# routes of team-a
- host: "*.team-b.svc.cluster.local"
  target_audience: team-b
  token_scopes: openid agent
- host: github-tool
  action: passthrough
- host: "**"
  token_url: https://kc.example/realms/a/protocol/openid-connect/token
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 3 || routes[0].Action != ActionExchange || routes[1].Action != ActionPassthrough || routes[2].Host != "**" {
		t.Errorf("%+v", routes)
	}
	if r, err := LoadRoutes([]byte("  \n# nothing\n")); err != nil || r != nil {
		t.Errorf("empty file: %v %v", r, err)
	}
}

func TestRoutesRefusals(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"routes: wrapper", "routes:\n  - host: a\n", []string{"routes: routes.yaml is a top-level list of routes, not a mapping with a routes key"}},
		{"other mapping", "host: a\n", []string{"routes.yaml is a top-level list of routes"}},
		{"passthrough key", "- host: a\n  passthrough: true\n", []string{"[0].passthrough: the sidecar ignores passthrough in routes.yaml", "write action: passthrough"}},
		{"unknown key", "- host: a\n  audience: b\n", []string{"[0].audience: unknown field; known fields are action, host, target_audience, token_scopes, token_url"}},
		{"no host", "- target_audience: b\n", []string{"[0].host: required"}},
		{"host with port", "- host: a:8080\n", []string{`[0].host: "a:8080" has a port`}},
		{"bad glob", "- host: '[a'\n", []string{`[0].host: "[a" is not a valid pattern`}},
		{"action", "- host: a\n  action: deny\n", []string{`[0].action: unknown value "deny"`}},
		{"passthrough with an audience", "- host: a\n  action: passthrough\n  target_audience: b\n", []string{"[0]: a passthrough route exchanges no token"}},
		{"token_url", "- host: a\n  token_url: kc/token\n", []string{`[0].token_url: "kc/token" is not an http or https URL`}},
		{"not a route", "- a\n- [b]\n", []string{`[0]: want a route {host, target_audience, token_scopes, token_url, action}, not the string "a"`, "[1]: want a route"}},
		{"duplicate key", "- host: a\n  host: b\n", []string{"[0].host: given twice"}},
		{"wrong type", "- host: a\n  token_scopes: [a, b]\n", []string{"[0].token_scopes: want a string, not a list"}},
		{"not UTF-8", "- host: \xc3\x28\n", []string{"not UTF-8"}},
		{"too large", "#" + strings.Repeat("x", MaxBytes), []string{"over the limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRoutes([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
