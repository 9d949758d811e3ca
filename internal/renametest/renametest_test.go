package renametest

import (
	"os"
	"path/filepath"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func TestRewrite(t *testing.T) {
	in := `apiVersion: agent.kagenti.dev/v1alpha1
metadata: {namespace: kagenti-system, labels: {kagenti.io/type: agent, protocol.kagenti.io/a2a: "", kagenti-enabled: "true", app.kubernetes.io/name: kagenti-ui}}
data: {secret: kagenti-keycloak-client-credentials-abc, gates: kagenti-feature-gates}
`
	want := `apiVersion: agent.rossoctl.dev/v1alpha1
metadata: {namespace: rossoctl-system, labels: {rossoctl.io/type: agent, protocol.rossoctl.io/a2a: "", rossoctl-enabled: "true", app.kubernetes.io/name: kagenti-ui}}
data: {secret: rossoctl-keycloak-client-credentials-abc, gates: rossoctl-feature-gates}
`
	if got := string(Rewrite(agentv1.Rossoctl, []byte(in))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(Rewrite(agentv1.Kagenti, []byte(in))); got != in {
		t.Errorf("the Kagenti rewrite changed the corpus:\n%s", got)
	}
}

func TestTree(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"a/x.yaml": "kagenti.io/type: agent\n", "a/p.rego": "# kagenti.io/type stays\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := Tree(t, agentv1.Rossoctl, src)
	for name, want := range map[string]string{"a/x.yaml": "rossoctl.io/type: agent\n", "a/p.rego": "# kagenti.io/type stays\n"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}
