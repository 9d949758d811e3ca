package repogen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Options size the repository.
type Options struct {
	Agents     int
	Namespaces int
}

// Write creates the repository in dir.
func Write(dir string, o Options) error {
	if o.Namespaces < 1 {
		o.Namespaces = 1
	}
	var root strings.Builder
	root.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for n := 0; n < o.Namespaces; n++ {
		ns := fmt.Sprintf("team-%02d", n)
		fmt.Fprintf(&root, "- %s\n", ns)
		var k strings.Builder
		fmt.Fprintf(&k, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n- namespace.yaml\n- policy.yaml\n", ns)
		files := map[string]string{
			"namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
			"policy.yaml":    namespacePolicy(ns),
		}
		for a := n; a < o.Agents; a += o.Namespaces {
			name := fmt.Sprintf("agent-%04d", a)
			files[name+".yaml"] = agent(name, ns, a)
			fmt.Fprintf(&k, "- %s.yaml\n", name)
		}
		files["kustomization.yaml"] = k.String()
		for name, content := range files {
			if err := write(filepath.Join(dir, ns, name), content); err != nil {
				return err
			}
		}
	}
	return write(filepath.Join(dir, "kustomization.yaml"), root.String())
}

func write(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

func namespacePolicy(ns string) string {
	return fmt.Sprintf(`apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: %[1]s
spec:
  scope: namespace
  policies:
    - path: inbound/request.rego
      content: |
        package authbridge.ns.inbound.request

        import rego.v1

        default allow := false

        allow if regex.match(`+"`"+`^spiffe://[^/]+/ns/%[1]s/sa/[^/]+$`+"`"+`, input.identity.client_id)
`, ns)
}

// agent writes one agent; every third is a tool, every fifth agent uses lite with strict
// mTLS.
func agent(name, ns string, i int) string {
	typ, extra := "agent", ""
	if i%3 == 2 {
		typ = "tool"
	}
	if i%5 == 4 && typ == "agent" {
		extra = "  authBridgeMode: lite\n  mtlsMode: strict\n"
	}
	peer := fmt.Sprintf("agent-%04d", (i+1)%1000)
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: agent
          image: ghcr.io/example/%[1]s:1.0.%[3]d
          ports: [{containerPort: 8000}]
          env: [{name: PEER, value: "http://%[4]s:8000"}]
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports: [{port: 8000, targetPort: 8000}]
---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata:
  name: %[1]s
spec:
  type: %[2]s
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
%[5]s---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: %[1]s
spec:
  scope: client
  policies:
    - path: inbound/request.rego
      content: |
        package authbridge.client.inbound.request

        import rego.v1

        default allow := false

        allow if endswith(input.identity.client_id, "/sa/%[4]s")
`, name, typ, i, peer, extra)
}

// ChangeAgent makes the change the benchmarks measure in a repository Write made:
// agent-0000 goes from the default mTLS mode to strict. It returns the file changed.
func ChangeAgent(dir string) (string, error) {
	file := filepath.Join(dir, "team-00", "agent-0000.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	changed := strings.Replace(string(data), "name: agent-0000}\n", "name: agent-0000}\n  mtlsMode: strict\n", 1)
	if changed == string(data) {
		return "", fmt.Errorf("the generated agent changed shape; update ChangeAgent")
	}
	return file, os.WriteFile(file, []byte(changed), 0o644)
}
