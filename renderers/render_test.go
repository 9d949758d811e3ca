package renderers

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func examples(t *testing.T) fs.FS {
	t.Helper()
	root, err := os.OpenRoot("../examples")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root.FS()
}

func examplePlatform(t *testing.T) *gitopsv1.Platform {
	t.Helper()
	p, err := gitopsv1.LoadPlatform("../examples/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func renderYAML(t *testing.T, fsys fs.FS, dir string, p *gitopsv1.Platform) []byte {
	t.Helper()
	res, err := Render(fsys, dir, Options{Platform: p})
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	var buf bytes.Buffer
	if err := manifest.WriteYAML(&buf, res.Objects); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./renderers -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./renderers -update and review the diff.\n%s", name, firstDifference(want, got))
	}
}

func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}

func TestRenderGolden(t *testing.T) {
	fsys, p := examples(t), examplePlatform(t)
	for _, dir := range []string{"single-agent", "multi-tenant", "modes"} {
		t.Run(dir, func(t *testing.T) {
			golden(t, dir+".yaml", renderYAML(t, fsys, dir, p))
		})
	}
	t.Run("default platform", func(t *testing.T) {
		golden(t, "multi-tenant.default-platform.yaml", renderYAML(t, fsys, "multi-tenant", gitopsv1.DefaultPlatform()))
	})
}

func TestRenderBrokenGolden(t *testing.T) {
	res, err := Render(examples(t), "broken", Options{Platform: examplePlatform(t)})
	if err == nil {
		t.Fatalf("broken example rendered %d objects", len(res.Objects))
	}
	var buf bytes.Buffer
	for _, e := range manifest.Errors(err) {
		buf.WriteString(e.Error() + "\n")
	}
	golden(t, "broken.txt", buf.Bytes())
}

// TestRenderDeterministic renders the same revision repeatedly: Go's map order changes
// from run to run, so any order leaking into the output shows up as different bytes.
func TestRenderDeterministic(t *testing.T) {
	fsys, p := examples(t), examplePlatform(t)
	for _, dir := range []string{"single-agent", "multi-tenant", "modes"} {
		first := renderYAML(t, fsys, dir, p)
		for i := 0; i < 10; i++ {
			if again := renderYAML(t, fsys, dir, p); !bytes.Equal(first, again) {
				t.Fatalf("%s: render %d differs from the first", dir, i+2)
			}
		}
	}
}

const (
	deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers: [{name: agent, image: example/agent:1}]
`
	agentRuntime = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata:
  name: %s
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
`
)

func deploy(name string) string {
	return strings.ReplaceAll(deployment, "%s", name)
}

func runtimeFor(name, target, extra string) string {
	s := strings.Replace(agentRuntime, "%s", name, 1)
	return strings.Replace(s, "%s", target, 1) + extra
}

func tree(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, content := range files {
		if target, ok := strings.CutPrefix(content, "symlink:"); ok {
			m[name] = &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
			continue
		}
		m[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return m
}

func policyDoc(name, scope, path, rego string) string {
	indented := "        " + strings.ReplaceAll(strings.TrimSuffix(rego, "\n"), "\n", "\n        ") + "\n"
	return "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata:\n  name: " + name +
		"\nspec:\n  scope: " + scope + "\n  policies:\n    - path: " + path + "\n      content: |\n" + indented
}

// TestRenderBadInput: every class of bad input gives an error naming the file, the object
// and the field, and no objects.
func TestRenderBadInput(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		platform func(*gitopsv1.Platform)
		want     []string
	}{
		{
			// Two objects to the API server, one policy to the bundles.
			name:     "one policy name in both families",
			platform: func(p *gitopsv1.Platform) { p.Families = []string{"kagenti", "rossoctl"} },
			files: map[string]string{
				"app/kustomization.yaml": "namespace: team\nresources: [a.yaml, b.yaml]\n",
				"app/a.yaml":             policyDoc("p", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow := true\n"),
				"app/b.yaml":             strings.Replace(policyDoc("p", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow := true\n"), "agent.kagenti.dev", "agent.rossoctl.dev", 1),
			},
			want: []string{`AuthorizationPolicy team/p: metadata.name: AuthorizationPolicy team/p is also declared in agent.`},
		},
		{
			// Two objects to the API server, one agent: which one it is would not be said.
			name:     "one AgentRuntime name in both families",
			platform: func(p *gitopsv1.Platform) { p.Families = []string{"kagenti", "rossoctl"} },
			files: map[string]string{
				"app/kustomization.yaml": "namespace: team\nresources: [a.yaml, b.yaml]\n",
				"app/a.yaml":             deploy("a") + "---\n" + runtimeFor("a", "a", ""),
				"app/b.yaml":             deploy("b") + "---\n" + strings.Replace(runtimeFor("a", "b", ""), "agent.kagenti.dev", "agent.rossoctl.dev", 1),
			},
			want: []string{`app/b.yaml: AgentRuntime team/a: metadata.name: AgentRuntime team/a is also declared in agent.kagenti.dev/v1alpha1 (app/a.yaml)`},
		},
		{
			name:  "invalid YAML",
			files: map[string]string{"app/kustomization.yaml": "resources: [a.yaml]\n", "app/a.yaml": "kind: [\n"},
			want:  []string{"a.yaml"},
		},
		{
			name: "unknown enum",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "  mtlsMode: mutual\n"),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.mtlsMode: unknown value "mutual"; valid values are disabled, permissive, strict`},
		},
		{
			name: "unknown type",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + strings.Replace(runtimeFor("a", "a", ""), "type: agent", "type: robot", 1),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.type: unknown value "robot"; valid values are agent, tool`},
		},
		{
			name: "unknown field",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "  authBridgemode: lite\n"),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.authBridgemode: unknown field`},
		},
		{
			name:  "typo in a built-in kind",
			files: map[string]string{"app/a.yaml": strings.Replace(deploy("a"), "spec:\n", "spec:\n  replica: 2\n", 1)},
			want:  []string{`app/a.yaml: Deployment a: spec.replica: unknown field (not in the apps/v1 Deployment API)`},
		},
		{
			name: "requireClientPolicy with the repository's own global tier",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", ""),
				"app/p.yaml": strings.Replace(policyDoc("mine", "global", "inbound/request.rego", "package authbridge.inbound.request\nimport rego.v1\nallow := true\n"), "name: mine", "name: mine\n  namespace: trustsync-system", 1),
			},
			platform: func(p *gitopsv1.Platform) { p.Policy.RequireClientPolicy = true },
			want: []string{
				`app/p.yaml: AuthorizationPolicy trustsync-system/mine: spec.policies: the global tier defines no package authbridge.inbound.response`,
				`app/p.yaml: AuthorizationPolicy trustsync-system/mine: spec.policies: the global tier defines no package authbridge.outbound.request`,
				`app/p.yaml: AuthorizationPolicy trustsync-system/mine: spec.policies: the global tier defines no package authbridge.outbound.response`,
				`app/p.yaml: AuthorizationPolicy trustsync-system/mine: spec.scope: the platform's policy.requireClientPolicy is enforced by trustsync's default global policy`,
			},
		},
		{
			name: "an undecodable policy hides no other policy's problem",
			files: map[string]string{
				"app/p.yaml": policyDoc("bad", "client", "inbound/request.rego", "package authbridge.client.inbound.request\nimport rego.v1\nallow := true\n") + "  clientid: x\n",
				"app/q.yaml": policyDoc("team", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow if {\n"),
			},
			want: []string{
				`app/p.yaml: AuthorizationPolicy bad: spec.clientid: unknown field`,
				`app/q.yaml: AuthorizationPolicy team: spec.policies[0].content: inbound/request.rego`,
			},
		},
		{
			name: "a global policy that cannot be read does not make the tier look incomplete",
			files: map[string]string{
				"app/a.yaml": strings.Replace(policyDoc("one", "global", "inbound/request.rego", "package authbridge.inbound.request\nimport rego.v1\nallow := true\n"), "name: one", "name: one\n  namespace: trustsync-system", 1),
				"app/b.yaml": strings.Replace(policyDoc("two", "global", "inbound/response.rego", "package authbridge.inbound.response\nimport rego.v1\nallow := true\n"), "name: two", "name: two\n  namespace: trustsync-system", 1) + "  typo: x\n",
			},
			want: []string{`app/b.yaml: AuthorizationPolicy trustsync-system/two: spec.typo: unknown field`},
		},
		{
			name: "rego syntax error names the policy and the line",
			files: map[string]string{
				"app/p.yaml": policyDoc("team", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow if {\n  input.x ==\n}\n"),
			},
			want: []string{`app/p.yaml: AuthorizationPolicy team: spec.policies[0].content: inbound/request.rego:5: rego_parse_error`},
		},
		{
			name: "a failing Rego test fails the revision, naming the test file and line",
			files: map[string]string{
				"app/p.yaml": policyDoc("team", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\ndefault allow := false\nallow if input.identity.client_id == \"a\"\n") +
					"    - path: inbound/request_test.rego\n      content: |\n        package authbridge.ns.inbound.request_test\n        import rego.v1\n        test_a if data.authbridge.inbound.request.allow with input as {\"identity\": {\"client_id\": \"a\"}}\n        test_b if data.authbridge.inbound.request.allow with input as {\"identity\": {\"client_id\": \"b\"}}\n",
			},
			want: []string{`app/p.yaml: AuthorizationPolicy team: spec.policies[1].content: inbound/request_test.rego:4: test test_b failed`},
		},
		{
			name: "a Rego test that does not compile fails the revision",
			files: map[string]string{
				"app/p.yaml": policyDoc("team", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow := true\n") +
					"    - path: inbound/request_test.rego\n      content: |\n        package t\n        import rego.v1\n        test_a if no_such_function(1)\n",
			},
			want: []string{`app/p.yaml: AuthorizationPolicy team: spec.policies[1].content: inbound/request_test.rego:3: rego_type_error`},
		},
		{
			name: "targetRef not in the build",
			files: map[string]string{
				"app/a.yaml": runtimeFor("a", "missing", ""),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.targetRef: Deployment default/missing is not in the build`},
		},
		{
			name: "unsupported target kind",
			files: map[string]string{
				"app/a.yaml": strings.Replace(runtimeFor("a", "a", ""), "apiVersion: apps/v1, kind: Deployment", "apiVersion: batch/v1, kind: Job", 1),
			},
			want: []string{`spec.targetRef.kind: batch/v1 "Job" is not a supported workload`},
		},
		{
			name: "two AgentRuntimes for one workload",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "") + "---\n" + runtimeFor("b", "a", ""),
			},
			want: []string{`app/a.yaml: AgentRuntime b: spec.targetRef: Deployment default/a is already the target of AgentRuntime a`},
		},
		{
			name: "two agents sharing a ServiceAccount",
			files: map[string]string{
				"app/a.yaml": strings.Replace(deploy("a"), "containers:", "serviceAccountName: shared\n      containers:", 1) + "---\n" + runtimeFor("a", "a", "") + "---\n" +
					strings.Replace(deploy("b"), "containers:", "serviceAccountName: shared\n      containers:", 1) + "---\n" + runtimeFor("b", "b", ""),
			},
			want: []string{`AgentRuntime b: spec.targetRef: Deployment/b runs as ServiceAccount default/shared, as does Deployment/a of AgentRuntime a`},
		},
		{
			name: "tls bridge with envoy",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "  authBridgeMode: envoy-sidecar\n  tlsBridgeMode: enabled\n"),
			},
			want: []string{`spec.tlsBridgeMode: enabled needs authBridgeMode proxy-sidecar or lite, not envoy-sidecar`},
		},
		{
			name: "a port the sidecar needs",
			files: map[string]string{
				"app/a.yaml": strings.Replace(deploy("a"), "image: example/agent:1}", "image: example/agent:1, ports: [{containerPort: 8000}, {containerPort: 9091}]}", 1) + "---\n" + runtimeFor("a", "a", ""),
			},
			want: []string{`app/a.yaml: Deployment a: spec.template.spec.containers[0].ports[1]: port 9091 of container "agent" is the proxy-sidecar sidecar's health port`},
		},
		{
			name: "bad namespace default names the ConfigMap",
			files: map[string]string{
				"app/a.yaml":  deploy("a") + "---\n" + runtimeFor("a", "a", ""),
				"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-runtime-config}\ndata:\n  config.yaml: |\n    mode: sidecar\n",
			},
			want: []string{`app/cm.yaml: ConfigMap authbridge-runtime-config: data.config.yaml: mode: unknown value "sidecar"`},
		},
		{
			name: "path escape",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [../../secrets.yaml]\n",
			},
			want: []string{`app/kustomization.yaml: resources[0]: "../../secrets.yaml" is outside the source tree`},
		},
		{
			name: "remote base",
			files: map[string]string{
				"app/kustomization.yaml": "resources:\n- https://github.com/example/agents//base?ref=main\n",
			},
			want: []string{`app/kustomization.yaml: resources[0]: "https://github.com/example/agents//base?ref=main" is not a path of the tree: remote bases, URLs and git addresses are refused; a render reads only the revision's own tree`},
		},
		{
			name: "symlink out of the tree",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [a.yaml]\n",
				"app/a.yaml":             "symlink:../../../etc/passwd",
			},
			want: []string{`symlink "app/a.yaml" -> "../../../etc/passwd" points outside the source tree`},
		},
		{
			name: "global policy outside the platform namespace",
			files: map[string]string{
				"app/p.yaml": policyDoc("global", "global", "inbound/request.rego", "package authbridge.inbound.request\nimport rego.v1\nallow := true\n"),
			},
			want: []string{`app/p.yaml: AuthorizationPolicy global: spec.scope: global policies are honoured only in the platform namespace "trustsync-system"`},
		},
		{
			name: "a bad AgentRuntime does not also fail the Rego tests",
			files: map[string]string{
				"app/a.yaml": runtimeFor("a", "missing", ""),
				// Passes only with the default global policy, which a failed expansion lacks.
				"app/p.yaml": policyDoc("team", "namespace", "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\nallow := true\n") +
					"    - path: inbound/request_test.rego\n      content: |\n        package authbridge.ns.inbound.request_test\n        import rego.v1\n        test_a if data.authbridge.inbound.request.allow with input as {\"identity\": {\"client_id\": \"a\"}}\n",
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.targetRef: Deployment default/missing is not in the build`},
		},
		{
			name:  "a kind typo in agent.kagenti.dev",
			files: map[string]string{"app/a.yaml": deploy("a") + "---\n" + strings.Replace(runtimeFor("a", "a", ""), "kind: AgentRuntime", "kind: AgentRunTime", 1)},
			want:  []string{`app/a.yaml: AgentRunTime a: kind: "AgentRunTime" is not a kind of agent.kagenti.dev (AgentCard, AgentRuntime, AuthorizationPolicy); did you mean AgentRuntime?`},
		},
		{
			name:  "an unserved version of agent.kagenti.dev",
			files: map[string]string{"app/a.yaml": deploy("a") + "---\n" + strings.Replace(runtimeFor("a", "a", ""), "agent.kagenti.dev/v1alpha1", "agent.kagenti.dev/v1", 1)},
			want:  []string{`app/a.yaml: AgentRuntime a: apiVersion: agent.kagenti.dev/v1 is not a served version of AgentRuntime; use agent.kagenti.dev/v1alpha1`},
		},
		{
			name: "a schema rule no other check has: empty audiences",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "  identity: {allowedAudiences: [\"\"]}\n"),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.identity.allowedAudiences[0]: Invalid value: "": spec.identity.allowedAudiences[0] in body should be at least 1 chars long`},
		},
		{
			name:  "an AgentCard without targetRef",
			files: map[string]string{"app/c.yaml": "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentCard\nmetadata: {name: card, namespace: team}\nspec: {syncPeriod: 1m}\n"},
			want:  []string{`app/c.yaml: AgentCard team/card: spec.targetRef: Required value`},
		},
		{
			name:  "an AgentCard without spec, which the API server would take",
			files: map[string]string{"app/c.yaml": "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentCard\nmetadata: {name: card, namespace: team}\n"},
			want:  []string{`app/c.yaml: AgentCard team/card: spec.targetRef: Required value: the object has no spec, and its CRD requires this field of one`},
		},
		{
			name: "a null that server-side apply refuses",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor("a", "a", "  identity:\n"),
			},
			want: []string{`app/a.yaml: AgentRuntime a: spec.identity: Invalid value: "null": spec.identity in body must be of type object: "null"`},
		},
		{
			name:  "containers: null",
			files: map[string]string{"app/a.yaml": strings.Replace(deploy("a"), "containers: [{name: agent, image: example/agent:1}]", "containers: null", 1)},
			want:  []string{`app/a.yaml: Deployment a: spec.template.spec.containers: Required value`},
		},
		{
			name: "a generated name the API server would refuse",
			files: map[string]string{
				"app/a.yaml": strings.Replace(strings.Replace(deploy("a"), "name: a\n", "name: "+strings.Repeat("w", 240)+"\n", 1), "kind: Deployment, name: a}", "kind: Deployment, name: "+strings.Repeat("w", 240)+"}", 1) +
					"---\n" + runtimeFor("a", strings.Repeat("w", 240), ""),
			},
			want: []string{`app/a.yaml: AgentRuntime a: trustsync would generate ConfigMap default/authbridge-config-` + strings.Repeat("w", 240) + ` for this agent, which the API server refuses: metadata.name: Invalid value: "authbridge-config-` + strings.Repeat("w", 240) + `": must be no more than 253 characters`},
		},
		{
			name: "a generated label the API server would refuse, said once",
			files: map[string]string{
				"app/a.yaml": deploy("a") + "---\n" + runtimeFor(strings.Repeat("r", 64), "a", ""),
			},
			want: []string{`app/a.yaml: AgentRuntime ` + strings.Repeat("r", 64) + `: trustsync would generate ServiceAccount default/a for this agent, which the API server refuses: metadata.labels: Invalid value: "` + strings.Repeat("r", 64) + `": must be no more than 63 bytes`},
		},
		{
			name: "an object trustsync generates",
			files: map[string]string{
				"app/a.yaml":  deploy("a") + "---\n" + runtimeFor("a", "a", ""),
				"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config-a}\ndata: {config.yaml: x}\n",
			},
			want: []string{`app/cm.yaml: ConfigMap authbridge-config-a: metadata.name: trustsync generates this object for AgentRuntime default/a`},
		},
		{
			name:  "a ClusterSPIFFEID in Git",
			files: map[string]string{"app/id.yaml": "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: steal}\nspec: {spiffeIDTemplate: x}\n"},
			want:  []string{`app/id.yaml: ClusterSPIFFEID steal: kind: ClusterSPIFFEIDs are refused in a repository`},
		},
		{
			name: "several problems are all reported, in order",
			files: map[string]string{
				"app/a.yaml": runtimeFor("a", "missing", ""),
				"app/b.yaml": deploy("b") + "---\n" + runtimeFor("b", "b", "  mtlsMode: mutual\n"),
				"app/p.yaml": policyDoc("team", "client", "inbound/request.rego", "package authbridge.inbound.request\nimport rego.v1\nallow := true\n"),
			},
			want: []string{
				`app/a.yaml: AgentRuntime a: spec.targetRef`,
				`app/b.yaml: AgentRuntime b: spec.mtlsMode`,
				`app/p.yaml: AuthorizationPolicy team: spec.policies[0].content: inbound/request.rego:1: package authbridge.inbound.request is outside the client tier`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &gitopsv1.Platform{}
			if tt.platform != nil {
				tt.platform(p)
			}
			p.Default()
			res, err := Render(tree(tt.files), "app", Options{Platform: p})
			if err == nil {
				t.Fatalf("rendered %d objects, want an error", len(res.Objects))
			}
			if res != nil {
				t.Fatal("a failed render must return no objects")
			}
			errs := manifest.Errors(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d:\n  got  %s\n  want %s", i, e, tt.want[i])
				}
			}
		})
	}
}

// TestRenderProgress: a render tells its Progress each phase, in order, and the same
// render without one renders the same.
func TestRenderProgress(t *testing.T) {
	var phases []string
	res, err := Render(examples(t), "multi-tenant", Options{Platform: examplePlatform(t), Progress: func(p string) { phases = append(phases, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"building multi-tenant with kustomize", "checking ", "expanding the agents' secure profile", "compiling the policies and running their Rego tests"}
	if len(phases) != len(want) {
		t.Fatalf("phases %q", phases)
	}
	for i, w := range want {
		if !strings.HasPrefix(phases[i], w) {
			t.Errorf("phase %d is %q, want %q", i, phases[i], w)
		}
	}
	quiet, err := Render(examples(t), "multi-tenant", Options{Platform: examplePlatform(t)})
	if err != nil || len(quiet.Objects) != len(res.Objects) {
		t.Errorf("without Progress: %d objects, %v; with it %d", len(quiet.Objects), err, len(res.Objects))
	}
}
