package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func run(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := newRootCommand(&out, &errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	if err != nil {
		printErrors(&errb, err)
	}
	return out.String(), errb.String(), err
}

func TestRender(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantErrOut []string
	}{
		{
			name:    "yaml",
			args:    []string{"render", "../../examples/multi-tenant", "--platform", "../../examples/platform.yaml"},
			wantOut: []string{"kind: AgentRuntime", "name: authbridge-config-planner-agent", "spiffe://example.org/ns/{{ .PodMeta.Namespace }}"},
		},
		{
			name:    "summary",
			args:    []string{"render", "../../examples/multi-tenant", "-o", "summary"},
			wantOut: []string{"3 agents, 5 policies", "AGENTS", "spiffe://localtest.me/ns/team-b/sa/planner-agent", "default (generated)", "ClusterSPIFFEID      3"},
		},
		{
			name:       "broken repository: errors on stderr, nothing on stdout",
			args:       []string{"render", "../../examples/broken"},
			wantErrOut: []string{"error: examples/broken/agents.yaml: AgentRuntime broken/ghost: spec.targetRef", "error: examples/broken/policies.yaml: AuthorizationPolicy broken/broken"},
		},
		{
			name:       "unknown output format",
			args:       []string{"render", "../../examples/single-agent", "-o", "xml"},
			wantErrOut: []string{`--output "xml": want yaml, json or summary`},
		},
		{
			name:       "missing path",
			args:       []string{"render", "../../examples/nope"},
			wantErrOut: []string{"no such file or directory"},
		},
		{
			name:       "path outside the given root",
			args:       []string{"render", "../../examples/single-agent", "--root", "../../examples/modes"},
			wantErrOut: []string{"is not inside the source tree"},
		},
		{
			name:       "bad platform file",
			args:       []string{"render", "../../examples/single-agent", "--platform", "../../examples/single-agent/namespace.yaml"},
			wantErrOut: []string{"namespace.yaml: unknown field"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := run(tt.args...)
			if (len(tt.wantErrOut) > 0) != (err != nil) {
				t.Fatalf("err = %v, stderr:\n%s", err, errOut)
			}
			if err != nil && out != "" {
				t.Errorf("a failed render printed to stdout:\n%s", out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q", w)
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

func TestRenderJSON(t *testing.T) {
	out, _, err := run("render", "../../examples/single-agent", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) == 0 {
		t.Fatalf("got kind %q with %d items", list.Kind, len(list.Items))
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run("version")
	if err != nil || !strings.HasPrefix(out, "trustsync ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}
