package renderers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// TestExampleSidecarConfigsValidate reads every per-agent config.yaml the examples
// render with the sidecar's loader: each one validates, for the mode its agent runs.
func TestExampleSidecarConfigsValidate(t *testing.T) {
	fsys := examples(t)
	for _, tt := range []struct {
		dir      string
		platform *gitopsv1.Platform
	}{
		{"single-agent", examplePlatform(t)}, {"multi-tenant", examplePlatform(t)}, {"modes", examplePlatform(t)},
		{"multi-tenant", gitopsv1.DefaultPlatform()}, {"modes", gitopsv1.DefaultPlatform()},
	} {
		res, err := Render(fsys, tt.dir, Options{Platform: tt.platform})
		if err != nil {
			t.Fatalf("render %s: %v", tt.dir, err)
		}
		modes := map[string]string{} // workload name → mode
		for _, a := range res.Agents {
			if a.Injected {
				modes[a.Namespace+"/"+strings.TrimPrefix(a.Workload, "Deployment/")] = a.Mode
			}
		}
		checked := 0
		for _, o := range res.Objects {
			if o.GetKind() != "ConfigMap" || !strings.HasPrefix(o.GetName(), agentv1.ConfigMapAgentConfigPrefix) {
				continue
			}
			data, _, _ := unstructured.NestedString(o.Object, "data", agentv1.KeyConfigYAML)
			cfg, err := sidecarconfig.Load([]byte(data), nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", tt.dir, o.Ref(), err)
			}
			r, err := cfg.Validate()
			if err != nil {
				t.Fatalf("%s: %s: %v", tt.dir, o.Ref(), err)
			}
			want := sidecarconfig.ModeProxySidecar
			if modes[o.GetNamespace()+"/"+strings.TrimPrefix(o.GetName(), agentv1.ConfigMapAgentConfigPrefix)] == string(agentv1.AuthBridgeEnvoySidecar) {
				want = sidecarconfig.ModeEnvoySidecar
			}
			if r.Mode != want || len(r.Inbound.Plugins) == 0 || len(r.Outbound.Plugins) == 0 {
				t.Errorf("%s: %s: mode %s, %d inbound and %d outbound plugins", tt.dir, o.Ref(), r.Mode, len(r.Inbound.Plugins), len(r.Outbound.Plugins))
			}
			checked++
		}
		if checked == 0 || checked != len(modes) {
			t.Errorf("%s: checked %d configs for %d injected agents", tt.dir, checked, len(modes))
		}
	}
}
