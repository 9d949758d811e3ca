package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkConfig = `mode: proxy-sidecar
listener:
  reverse_proxy_addr: ":8000"
  reverse_proxy_backend: http://127.0.0.1:8001
spiffe: {}
pipeline:
  inbound:
    plugins:
      - a2a-parser
      - name: jwt-validation
        config: {issuer: "${TEST_ISSUER}"}
      - {name: ibac, on_error: off}
  outbound:
    plugins:
      - name: token-exchange
        config: {token_url: "https://kc.example/realms/a/protocol/openid-connect/token", identity: {type: client-secret}}
`

func TestAuthBridgeCheck(t *testing.T) {
	t.Setenv("TEST_ISSUER", "https://kc.example/realms/a")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := file("config.yaml", checkConfig)
	routes := file("routes.yaml", "- host: '*.team-b.svc'\n  target_audience: team-b\n")
	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantErrOut []string
	}{
		{
			name: "valid, with routes",
			args: []string{"authbridge", "check", "--config", config, "--routes", routes},
			wantOut: []string{
				"config.yaml: valid, mode proxy-sidecar (authbridge-proxy, this data plane)",
				"reverse proxy      :8000 -> http://127.0.0.1:8001", "transparent proxy  :8082",
				"1. a2a-parser  on_error: enforce", "2. jwt-validation  on_error: enforce",
				"issuer: https://kc.example/realms/a", "jwks_url: https://kc.example/realms/a/protocol/openid-connect/certs",
				"off: ibac (entry 2, left out unread)", "no_token_policy: deny",
				"1. *.team-b.svc -> exchange, audience \"team-b\"",
			},
		},
		{
			name:       "bad configuration: every problem, with file and field, nothing on stdout",
			args:       []string{"authbridge", "check", "--config", file("bad.yaml", "mode: proxy-sidecar\nlistener: {skip_hosts: ['*']}\npipeline: {inbound: {plugins: [{name: jwt-validation, config: {issuer: x, audiences: [a]}}]}}\n")},
			wantErrOut: []string{"bad.yaml: listener.reverse_proxy_backend: required", `bad.yaml: listener.skip_hosts[0]: "*" matches every host name of one label`, "bad.yaml: pipeline.inbound.plugins[0].config.audiences: unknown field"},
		},
		{
			name:       "bad routes",
			args:       []string{"authbridge", "check", "--config", config, "--routes", file("wrapped.yaml", "routes:\n  - host: a\n")},
			wantErrOut: []string{"wrapped.yaml: routes: routes.yaml is a top-level list of routes"},
		},
		{
			name:       "not YAML",
			args:       []string{"authbridge", "check", "--config", file("broken.yaml", "mode: [\n")},
			wantErrOut: []string{"broken.yaml: not YAML"},
		},
		{
			name:       "missing file",
			args:       []string{"authbridge", "check", "--config", filepath.Join(dir, "nope.yaml")},
			wantErrOut: []string{"nope.yaml: no such file or directory"},
		},
		{
			name:       "no --config",
			args:       []string{"authbridge", "check"},
			wantErrOut: []string{"--config is required"},
		},
		{
			name:       "unknown output format",
			args:       []string{"authbridge", "check", "--config", config, "-o", "yaml"},
			wantErrOut: []string{`--output "yaml": want text or json`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := run(tt.args...)
			if (len(tt.wantErrOut) > 0) != (err != nil) {
				t.Fatalf("err = %v, stderr:\n%s", err, errOut)
			}
			if err != nil && out != "" {
				t.Errorf("a failed check printed to stdout:\n%s", out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestAuthBridgeCheckJSON(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	// Unset, the variable stays ${TEST_UNSET_ISSUER} as in the sidecar, with a warning.
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(checkConfig, "TEST_ISSUER", "TEST_UNSET_ISSUER")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run("authbridge", "check", "--config", config, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var got struct {
		Resolved struct {
			Mode    string `json:"mode"`
			Inbound struct {
				Plugins []struct {
					Name    string         `json:"name"`
					OnError string         `json:"on_error"`
					Config  map[string]any `json:"config"`
				} `json:"plugins"`
			} `json:"inbound"`
			Warnings []struct{ Field, Message string } `json:"warnings"`
		} `json:"resolved"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := got.Resolved
	if r.Mode != "proxy-sidecar" || len(r.Inbound.Plugins) != 2 || r.Inbound.Plugins[1].Config["issuer"] != "${TEST_UNSET_ISSUER}" {
		t.Errorf("%+v", r)
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Field != "pipeline.inbound.plugins[1].config.issuer" {
		t.Errorf("warnings %+v", r.Warnings)
	}
}
