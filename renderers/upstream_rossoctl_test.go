package renderers

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/renametest"
)

// TestRenderUpstreamCorporaRossoctl renders the upstream corpora (testdata/upstream-*)
// rewritten into Rossoctl's names, under a Rossoctl platform: each renders as its Kagenti
// original under the Kagenti platform, in Rossoctl's names throughout, with the same
// agents and errors. Only what hashes a family-named input differs: the credentials
// Secret's name.
func TestRenderUpstreamCorporaRossoctl(t *testing.T) {
	kagenti := gitopsv1.DefaultPlatform()
	kagenti.Namespace = agentv1.Kagenti.Namespace
	rossoctl := gitopsv1.DefaultPlatform()
	rossoctl.Namespace, rossoctl.Families = agentv1.Rossoctl.Namespace, []string{agentv1.Rossoctl.Name}
	hashed := regexp.MustCompile(`(keycloak-client-credentials)-[0-9a-f]{16}`)
	normal := func(s string) string { return hashed.ReplaceAllString(s, "$1-HASH") }

	cases := []struct {
		dir     string
		files   []string
		require bool
		wantErr string // in Kagenti's names; rewritten for Rossoctl
	}{
		{dir: "upstream-label-only", files: []string{"agent-deployment-webhook.yaml", "namespace-team1.yaml"}},
		{dir: "upstream-label-only", files: []string{"agent-deployment-webhook-no-spiffe.yaml", "namespace-team1.yaml"}},
		{dir: "upstream-label-only", files: []string{"agent-deployment-webhook.yaml"}},
		{dir: "upstream-label-only", files: []string{"agent-deployment-webhook.yaml", "namespace-team1.yaml"}, require: true,
			wantErr: "spec.template.metadata.labels.kagenti.io/type: kagenti.io/type=agent makes the pods an agent, but no AgentRuntime targets Deployment team1/agent"},
		{dir: "upstream-agentcards", files: []string{"weather-agent-card.yaml"}},
		{dir: "upstream-agentcards", files: []string{"signed-agent-card.yaml"}},
		{dir: "upstream-agentcards", files: []string{"card-without-targetref.yaml"}, wantErr: "AgentCard team1/orphan-card: spec.targetRef: Required value"},
	}
	for _, tc := range cases {
		t.Run(tc.dir+" "+strings.Join(tc.files, ",")+map[bool]string{true: " require", false: ""}[tc.require], func(t *testing.T) {
			src := t.TempDir()
			for _, f := range tc.files {
				data, err := os.ReadFile(filepath.Join("testdata", tc.dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(src, f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			render := func(tree string, p *gitopsv1.Platform) (string, error) {
				p = p.DeepCopy()
				p.Injection.RequireAgentRuntime = tc.require
				root, err := os.OpenRoot(filepath.Dir(tree))
				if err != nil {
					t.Fatal(err)
				}
				defer root.Close()
				res, err := Render(root.FS(), filepath.Base(tree), Options{Platform: p})
				if err != nil {
					return "", err
				}
				var b strings.Builder
				for _, o := range res.Objects {
					data, err := yaml.Marshal(o.Object)
					if err != nil {
						t.Fatal(err)
					}
					b.WriteString("---\n")
					b.Write(data)
				}
				agents, _ := yaml.Marshal(res.Agents)
				b.WriteString("--- agents\n")
				b.Write(agents)
				return b.String(), nil
			}
			want, kerr := render(src, kagenti)
			got, rerr := render(renametest.Tree(t, agentv1.Rossoctl, src), rossoctl)
			if tc.wantErr != "" {
				if kerr == nil || rerr == nil {
					t.Fatalf("errors: Kagenti %v, Rossoctl %v; want both", kerr, rerr)
				}
				if !strings.Contains(kerr.Error(), tc.wantErr) {
					t.Fatalf("Kagenti error %v, want %q", kerr, tc.wantErr)
				}
				if w := string(renametest.Rewrite(agentv1.Rossoctl, []byte(tc.wantErr))); !strings.Contains(rerr.Error(), w) {
					t.Fatalf("Rossoctl error %v, want %q", rerr, w)
				}
				return
			}
			if kerr != nil || rerr != nil {
				t.Fatalf("errors: Kagenti %v, Rossoctl %v", kerr, rerr)
			}
			if w := normal(string(renametest.Rewrite(agentv1.Rossoctl, []byte(want)))); normal(got) != w {
				t.Errorf("the Rossoctl render is not the Kagenti one renamed:\n%s", lineDiff(w, normal(got)))
			}
			if !strings.Contains(got, agentv1.Rossoctl.Domain+"/") && !strings.Contains(got, agentv1.Rossoctl.Group) {
				t.Errorf("no Rossoctl name in the Rossoctl render:\n%s", got)
			}
			if strings.Contains(got, "kagenti.io/") || strings.Contains(got, agentv1.Kagenti.Group) {
				t.Errorf("Kagenti names in the Rossoctl render:\n%s", got)
			}
		})
	}
}

// lineDiff lists the lines of a and b that differ, position by position.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 40; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}
