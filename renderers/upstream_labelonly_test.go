package renderers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestRenderUpstreamLabelOnly renders upstream's AuthBridge webhook demo, whose agent has
// no AgentRuntime (testdata/upstream-label-only, see its SOURCES): in a namespace the
// repository enables it is a label-only agent with an identity, as upstream's webhook
// has it; in one it does not, an ordinary Deployment; with injection.requireAgentRuntime
// an error naming the file, the Deployment and the label.
func TestRenderUpstreamLabelOnly(t *testing.T) {
	const dir = "testdata/upstream-label-only"
	tests := []struct {
		name    string
		files   []string
		require bool
		agent   bool
		wantErr string
	}{
		{name: "enabled", files: []string{"agent-deployment-webhook.yaml", "namespace-team1.yaml"}, agent: true},
		{name: "enabled, no-spiffe variant", files: []string{"agent-deployment-webhook-no-spiffe.yaml", "namespace-team1.yaml"}, agent: true},
		{name: "namespace not in the repository", files: []string{"agent-deployment-webhook.yaml"}},
		{name: "an AgentRuntime required", files: []string{"agent-deployment-webhook.yaml", "namespace-team1.yaml"}, require: true,
			wantErr: "demo/agent-deployment-webhook.yaml: Deployment team1/agent: spec.template.metadata.labels.kagenti.io/type: kagenti.io/type=agent makes the pods an agent, but no AgentRuntime targets Deployment team1/agent and the platform requires one (injection.requireAgentRuntime)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := t.TempDir()
			if err := os.Mkdir(filepath.Join(tree, "demo"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				data, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tree, "demo", f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			root, err := os.OpenRoot(tree)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			p := gitopsv1.DefaultPlatform()
			p.Injection.RequireAgentRuntime = tt.require
			res, err := Render(root.FS(), "demo", Options{Platform: p})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v\nwant an error containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.agent {
				if len(res.Agents) != 0 {
					t.Fatalf("agents %+v, want none", res.Agents)
				}
				return
			}
			if len(res.Agents) != 1 || !res.Agents[0].LabelOnly || res.Agents[0].Workload != "Deployment/agent" {
				t.Fatalf("agents %+v, want the demo's Deployment as a label-only agent", res.Agents)
			}
			if got, want := res.Agents[0].SPIFFEID, "spiffe://"+p.TrustDomain+"/ns/team1/sa/agent"; got != want {
				t.Errorf("SPIFFE ID %q, want %q", got, want)
			}
			kinds := map[string]bool{}
			for _, o := range res.Objects {
				kinds[o.GetKind()+" "+o.GetName()] = true
			}
			for _, want := range []string{"AgentRuntime agent", "ConfigMap " + agentv1.ConfigMapAgentConfigPrefix + "agent", "ClusterSPIFFEID team1.agent"} {
				if !kinds[want] {
					t.Errorf("no %s rendered", want)
				}
			}
		})
	}
}
