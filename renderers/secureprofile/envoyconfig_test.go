package secureprofile

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func envoyRuntime(spec string) string {
	return strings.Replace(chatRuntime, "type: agent", "type: agent\n  authBridgeMode: envoy-sidecar"+spec, 1)
}

// TestEnvoyConfigRendered: every injected envoy-sidecar agent gets envoy-config-<workload>,
// key envoy.yaml, with the listeners, the ext_proc cluster and the TLS of its mTLS mode
// (testdata/envoy-config, go test -update rewrites them); a permissive agent also gets the
// plaintext variant the webhook falls back to without SPIRE; no other agent gets one.
func TestEnvoyConfigRendered(t *testing.T) {
	noSPIRE := func(p *gitopsv1.Platform) { p.Spire.Enabled = f(false) }
	for _, c := range []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		mtls     string
		keys     []string // nil: no envoy-config-chat
	}{
		{name: "permissive", docs: []string{ns, deploy, envoyRuntime("")}, mtls: "permissive", keys: []string{"envoy-plaintext.yaml", "envoy.yaml"}},
		{name: "strict", docs: []string{ns, deploy, envoyRuntime("\n  mtlsMode: strict")}, mtls: "strict", keys: []string{"envoy.yaml"}},
		{name: "disabled", docs: []string{ns, deploy, envoyRuntime("\n  mtlsMode: disabled")}, mtls: "disabled", keys: []string{"envoy.yaml"}},
		{name: "no-spire", docs: []string{ns, deploy, envoyRuntime("")}, platform: noSPIRE, mtls: "disabled", keys: []string{"envoy.yaml"}},
		{name: "ext-proc-port", docs: []string{ns, deploy, envoyRuntime("\n  mtlsMode: disabled"), runtimeConfig(goodPipeline + "\nlistener: {ext_proc_addr: ':9191'}")}, mtls: "disabled", keys: []string{"envoy.yaml"}},
		{name: "proxy-sidecar", docs: []string{ns, deploy, chatRuntime}, mtls: "permissive"},
		{name: "opted out", docs: []string{ns, strings.Replace(deploy, "labels: {app: chat}", "labels: {app: chat, kagenti.io/envoy-proxy-inject: 'false'}", 1), envoyRuntime("")}, mtls: "disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, c.docs...), platformWith(c.platform))
			if err != nil {
				t.Fatal(err)
			}
			r := result{res, t}
			if got := res.Agents[0].MTLS; got != c.mtls {
				t.Errorf("agent mTLS %s, want %s", got, c.mtls)
			}
			if c.keys == nil {
				r.mustNot("ConfigMap", "team", "envoy-config-chat")
				return
			}
			cm := r.must("ConfigMap", "team", "envoy-config-chat")
			if cm.GetLabels()[LabelAgentRuntime] != "chat" {
				t.Errorf("labels %v, want the agent's", cm.GetLabels())
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			var keys []string
			for k, v := range data {
				keys = append(keys, k)
				if err := authbridge.CheckEnvoyConfig([]byte(v)); err != nil {
					t.Errorf("%s: %v", k, err)
				}
				golden(t, filepath.Join("envoy-config", c.name+"."+k), v)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, c.keys) {
				t.Errorf("keys %v, want %v", keys, c.keys)
			}
			if c.mtls == "permissive" && data["envoy-plaintext.yaml"] == data["envoy.yaml"] {
				t.Error("the plaintext variant is the permissive configuration")
			}
		})
	}
}

// TestEnvoyConfigRefused: an ext_proc address Envoy cannot dial is reported at the
// namespace configuration that sets it.
func TestEnvoyConfigRefused(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"ext-proc:9090", `repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: listener.ext_proc_addr: trustsync would generate ConfigMap team/envoy-config-chat for AgentRuntime chat, whose Envoy cannot reach the ext_proc server at "ext-proc:9090": Envoy dials the ext_proc server by IP address; give an IP or leave the host empty`},
		{":15124", `the ext_proc server at ":15124": port 15124 is one of Envoy's own (15123, 15124, 9901)`},
	} {
		_, err := expandBoth(t, objects(t, ns, deploy, envoyRuntime(""), runtimeConfig(goodPipeline+"\nlistener: {ext_proc_addr: '"+c.addr+"'}")), platformWith(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ext_proc_addr %s: got %v, want %q", c.addr, err, c.want)
		}
	}
}

// golden compares with testdata/<name>, which -update rewrites.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; if intended, run go test ./renderers/secureprofile -update and review the diff.\ngot:\n%s", path, got)
	}
}
