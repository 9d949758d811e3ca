package secureprofile

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/security/agentid"
)

// objects parses a YAML stream into objects, all from file "repo.yaml".
func objects(t *testing.T, docs ...string) []*manifest.Object {
	t.Helper()
	var out []*manifest.Object
	dec := kyaml.NewDecoder(bytes.NewReader([]byte(strings.Join(docs, "\n---\n"))))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, manifest.New(&unstructured.Unstructured{Object: jsonify(m)}, "repo.yaml"))
		}
	}
}

// jsonify turns YAML-decoded values into the JSON types unstructured objects hold.
func jsonify(v map[string]any) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		out[k] = jsonValue(x)
	}
	return out
}

func jsonValue(x any) any {
	switch y := x.(type) {
	case map[string]any:
		return jsonify(y)
	case []any:
		for i := range y {
			y[i] = jsonValue(y[i])
		}
		return y
	case int:
		return int64(y)
	}
	return x
}

const (
	ns       = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}"
	nsOptOut = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team, annotations: {kagenti.io/istio-mesh: disabled}}"
	deploy   = `apiVersion: apps/v1
kind: Deployment
metadata: {name: chat, namespace: team}
spec:
  selector: {matchLabels: {app: chat}}
  template:
    metadata: {labels: {app: chat}}
    spec:
      containers: [{name: agent, image: example/chat:1, ports: [{containerPort: 8080}]}]`
	chatRuntime = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: chat, namespace: team}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}`
	nsPolicy = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: team, namespace: team}
spec:
  scope: namespace
  policies: [{path: inbound/request.rego, content: "package authbridge.ns.inbound.request\nimport rego.v1\nallow := true\n"}]`
)

type result struct {
	*Result
	t *testing.T
}

func (r result) find(kind, namespace, name string) *manifest.Object {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func (r result) must(kind, namespace, name string) *manifest.Object {
	r.t.Helper()
	o := r.find(kind, namespace, name)
	if o == nil {
		r.t.Fatalf("no %s %s/%s in the output", kind, namespace, name)
	}
	return o
}

func (r result) mustNot(kind, namespace, name string) {
	r.t.Helper()
	if r.find(kind, namespace, name) != nil {
		r.t.Fatalf("unexpected %s %s/%s in the output", kind, namespace, name)
	}
}

func str(t *testing.T, o *manifest.Object, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedString(o.Object, path...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func platformWith(mod func(*gitopsv1.Platform)) *gitopsv1.Platform {
	p := &gitopsv1.Platform{}
	if mod != nil {
		mod(p)
	}
	p.Default()
	return p
}

func f(b bool) *bool { return &b }

func TestExpand(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		check    func(t *testing.T, r result)
	}{
		{
			name: "a repository without agents or policies is left alone",
			docs: []string{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: x}\ndata: {a: b}"},
			check: func(t *testing.T, r result) {
				if len(r.Objects) != 1 || len(r.Agents) != 0 {
					t.Fatalf("got %d objects, %d agents", len(r.Objects), len(r.Agents))
				}
			},
		},
		{
			name: "policies alone bring the platform objects but no namespace enrolment",
			docs: []string{nsPolicy},
			check: func(t *testing.T, r result) {
				r.must("ConfigMap", "trustsync-system", agentv1.Kagenti.ConfigMapFeatureGates())
				r.must("AuthorizationPolicy", "trustsync-system", "default")
				r.mustNot("Namespace", "", "team")
			},
		},
		{
			name: "a global policy in the repository replaces the default",
			docs: []string{strings.NewReplacer("name: team, namespace: team", "name: mine, namespace: trustsync-system", "scope: namespace", "scope: global").Replace(nsPolicy)},
			check: func(t *testing.T, r result) {
				r.mustNot("AuthorizationPolicy", "trustsync-system", "default")
			},
		},
		{
			name:     "requireClientPolicy renders the strict default policy",
			docs:     []string{nsPolicy},
			platform: func(p *gitopsv1.Platform) { p.Policy.RequireClientPolicy = true },
			check: func(t *testing.T, r result) {
				def := r.must("AuthorizationPolicy", "trustsync-system", "default")
				policies, _, _ := unstructured.NestedSlice(def.Object, "spec", "policies")
				content := policies[0].(map[string]any)["content"].(string)
				if strings.Contains(content, "client_ok if not") {
					t.Fatalf("inbound/request still allows identities without a client policy:\n%s", content)
				}
			},
		},
		{
			name: "an agent on the default ServiceAccount gets its own",
			docs: []string{ns, deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				sa := r.must("ServiceAccount", "team", "chat")
				if sa.GetLabels()[LabelAgentRuntime] != "chat" || sa.GetLabels()[LabelManagedBy] != ManagedBy {
					t.Errorf("ServiceAccount labels %v", sa.GetLabels())
				}
				d := r.must("Deployment", "team", "chat")
				if got := str(t, d, "spec", "template", "spec", "serviceAccountName"); got != "chat" {
					t.Errorf("serviceAccountName = %q", got)
				}
				if got := r.Agents[0].SPIFFEID; got != "spiffe://localtest.me/ns/team/sa/chat" {
					t.Errorf("SPIFFE ID %q", got)
				}
			},
		},
		{
			name: "an existing ServiceAccount of the same name is reused, not duplicated",
			docs: []string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: chat, namespace: team}"},
			check: func(t *testing.T, r result) {
				n := 0
				for _, o := range r.Objects {
					if o.GetKind() == "ServiceAccount" {
						n++
						if o.Source == "" {
							t.Error("generated a ServiceAccount although the repository has one")
						}
					}
				}
				if n != 1 {
					t.Fatalf("%d ServiceAccounts", n)
				}
			},
		},
		{
			name: "a named ServiceAccount is kept",
			docs: []string{ns, strings.Replace(deploy, "containers:", "serviceAccountName: chat-sa\n      containers:", 1), chatRuntime},
			check: func(t *testing.T, r result) {
				r.mustNot("ServiceAccount", "team", "chat")
				if r.Agents[0].ServiceAccount != "chat-sa" || r.Agents[0].SPIFFEID != "spiffe://localtest.me/ns/team/sa/chat-sa" {
					t.Errorf("agent %+v", r.Agents[0])
				}
			},
		},
		{
			name: "workload labels, pod-template labels and annotations",
			docs: []string{ns, deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				d := r.must("Deployment", "team", "chat")
				if d.GetLabels()[agentv1.Kagenti.LabelType()] != "agent" || str(t, d, "spec", "template", "metadata", "labels", agentv1.Kagenti.LabelType()) != "agent" {
					t.Error("kagenti.io/type missing")
				}
				ann, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "annotations")
				if len(ann[agentv1.Kagenti.AnnotationConfigHash()]) != 64 || ann[agentv1.Kagenti.AnnotationMTLSMode()] != "permissive" {
					t.Errorf("annotations %v", ann)
				}
				if ann[agentv1.Kagenti.AnnotationClientCredentialsSecret()] != agentid.CredentialsSecretName(agentv1.Kagenti, "team", "chat") {
					t.Errorf("credentials Secret annotation %q", ann[agentv1.Kagenti.AnnotationClientCredentialsSecret()])
				}
			},
		},
		{
			name: "the per-agent config follows the agent's port",
			docs: []string{ns, deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				cfg := str(t, r.must("ConfigMap", "team", "authbridge-config-chat"), "data", "config.yaml")
				for _, want := range []string{"reverse_proxy_addr: :8080", "reverse_proxy_backend: http://127.0.0.1:8081", "forward_proxy_addr: :8084"} {
					if !strings.Contains(cfg, want) {
						t.Errorf("config lacks %q:\n%s", want, cfg)
					}
				}
			},
		},
		{
			name: "a namespace that is not in the repository is generated and enrolled",
			docs: []string{deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				n := r.must("Namespace", "", "team")
				want := map[string]string{"kagenti-enabled": "true", "istio.io/dataplane-mode": "ambient", "istio-discovery": "enabled"}
				for k, v := range want {
					if n.GetLabels()[k] != v {
						t.Errorf("label %s = %q", k, n.GetLabels()[k])
					}
				}
				r.must("ConfigMap", "team", agentv1.ConfigMapAuthBridgeRuntimeConfig)
				r.must("ConfigMap", "team", agentv1.ConfigMapSpiffeHelperConfig)
			},
		},
		{
			name: "a namespace opting out of the mesh is only enabled for injection",
			docs: []string{nsOptOut, deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				l := r.must("Namespace", "", "team").GetLabels()
				if l["kagenti-enabled"] != "true" || l["istio.io/dataplane-mode"] != "" || l["istio-discovery"] != "" {
					t.Errorf("labels %v", l)
				}
			},
		},
		{
			name:     "authbridge-config from the repository keeps its keys and gets the rest",
			docs:     []string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config, namespace: team}\ndata: {KEYCLOAK_REALM: custom}"},
			platform: func(p *gitopsv1.Platform) { p.AuthbridgeConfig.Enabled = true },
			check: func(t *testing.T, r result) {
				cm := r.must("ConfigMap", "team", agentv1.ConfigMapAuthBridgeConfig)
				if cm.Source == "" {
					t.Fatal("the repository's ConfigMap was replaced")
				}
				if str(t, cm, "data", "KEYCLOAK_REALM") != "custom" || str(t, cm, "data", "KEYCLOAK_URL") == "" {
					t.Errorf("data %v", cm.Object["data"])
				}
				if !strings.Contains(str(t, r.must("ConfigMap", "team", "authbridge-config-chat"), "data", "config.yaml"), "keycloak_realm: custom") {
					t.Error("the sidecars do not get the realm the repository's authbridge-config sets")
				}
			},
		},
		{
			name: "spiffe-helper-config from the repository is not replaced",
			docs: []string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: spiffe-helper-config, namespace: team}\ndata: {helper.conf: custom}"},
			check: func(t *testing.T, r result) {
				if str(t, r.must("ConfigMap", "team", agentv1.ConfigMapSpiffeHelperConfig), "data", "helper.conf") != "custom" {
					t.Error("replaced")
				}
			},
		},
		{
			name:     "without SPIRE: no identity objects, no mTLS, client ID by name",
			docs:     []string{ns, deploy, chatRuntime},
			platform: func(p *gitopsv1.Platform) { p.Spire.Enabled = f(false) },
			check: func(t *testing.T, r result) {
				r.mustNot("ClusterSPIFFEID", "", "team.chat")
				r.mustNot("ConfigMap", "team", agentv1.ConfigMapSpiffeHelperConfig)
				a := r.Agents[0]
				if a.SPIFFEID != "" || a.MTLS != "disabled" || a.ClientID != "team/chat" {
					t.Errorf("agent %+v", a)
				}
				if strings.Contains(str(t, r.must("ConfigMap", "team", "authbridge-config-chat"), "data", "config.yaml"), "spiffe") {
					t.Error("per-agent config still mentions SPIFFE")
				}
			},
		},
		{
			name:     "client registration off: no credentials Secret is expected",
			docs:     []string{ns, deploy, chatRuntime},
			platform: func(p *gitopsv1.Platform) { p.FeatureGates.ClientRegistration = f(false) },
			check: func(t *testing.T, r result) {
				ann, _, _ := unstructured.NestedStringMap(r.must("Deployment", "team", "chat").Object, "spec", "template", "metadata", "annotations")
				if _, ok := ann[agentv1.Kagenti.AnnotationClientCredentialsSecret()]; ok || r.Agents[0].ClientID != "" {
					t.Error("credentials annotation or client ID present")
				}
			},
		},
		{
			name: "the ClusterSPIFFEID selects exactly the workload's pods",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: agent\n  identity: {spiffe: {trustDomain: other.org}}", 1)},
			check: func(t *testing.T, r result) {
				id := r.must("ClusterSPIFFEID", "", "team.chat")
				if got := str(t, id, "spec", "spiffeIDTemplate"); got != "spiffe://other.org/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}" {
					t.Errorf("template %q", got)
				}
				if got := str(t, id, "spec", "podSelector", "matchLabels", "app"); got != "chat" {
					t.Errorf("pod selector %v", id.Object["spec"])
				}
				if got := str(t, id, "spec", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"); got != "team" {
					t.Errorf("namespace selector %q", got)
				}
			},
		},
		{
			name: "tools: an identity but no sidecar without injectTools",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: tool", 1)},
			check: func(t *testing.T, r result) {
				r.mustNot("ConfigMap", "team", "authbridge-config-chat")
				r.must("ClusterSPIFFEID", "", "team.chat")
				if r.Agents[0].Injected || r.Agents[0].ClientID != "" {
					t.Errorf("agent %+v", r.Agents[0])
				}
			},
		},
		{
			name:     "tools with injectTools are injected and registered",
			docs:     []string{ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: tool", 1)},
			platform: func(p *gitopsv1.Platform) { p.FeatureGates.InjectTools = true },
			check: func(t *testing.T, r result) {
				r.must("ConfigMap", "team", "authbridge-config-chat")
				if !r.Agents[0].Injected || r.Agents[0].ClientID == "" {
					t.Errorf("agent %+v", r.Agents[0])
				}
			},
		},
		{
			name:     "Kuadrant when the platform enables it",
			docs:     []string{ns, deploy, chatRuntime},
			platform: func(p *gitopsv1.Platform) { p.Kuadrant.Enabled = true },
			check: func(t *testing.T, r result) {
				r.must("Kuadrant", "kuadrant-system", "kuadrant")
				r.must("Namespace", "", "kuadrant-system")
			},
		},
		{
			name: "no Kuadrant by default",
			docs: []string{ns, deploy, chatRuntime},
			check: func(t *testing.T, r result) {
				r.mustNot("Kuadrant", "kuadrant-system", "kuadrant")
			},
		},
		{
			name: "Sandbox: pod template under spec.podTemplate, selected by its labels",
			docs: []string{ns, `apiVersion: agents.x-k8s.io/v1alpha1
kind: Sandbox
metadata: {name: box, namespace: team}
spec:
  podTemplate:
    metadata: {labels: {app: box}}
    spec: {containers: [{name: agent, image: example/box:1}]}`, `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: box, namespace: team}
spec: {type: agent, targetRef: {apiVersion: agents.x-k8s.io/v1alpha1, kind: Sandbox, name: box}}`},
			check: func(t *testing.T, r result) {
				s := r.must("Sandbox", "team", "box")
				if str(t, s, "spec", "podTemplate", "metadata", "labels", agentv1.Kagenti.LabelType()) != "agent" || str(t, s, "spec", "podTemplate", "spec", "serviceAccountName") != "box" {
					t.Errorf("sandbox %v", s.Object["spec"])
				}
				if str(t, r.must("ClusterSPIFFEID", "", "team.box"), "spec", "podSelector", "matchLabels", "app") != "box" {
					t.Error("selector")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, result{res, t})
		})
	}
}

// TestConfigHashFollowsItsInputs: the hash moves when what the pods are built from moves,
// and only then.
func TestConfigHashFollowsItsInputs(t *testing.T) {
	hash := func(docs []string, mod func(*gitopsv1.Platform)) string {
		res, err := expandBoth(t, objects(t, docs...), platformWith(mod))
		if err != nil {
			t.Fatal(err)
		}
		return res.Agents[0].ConfigHash
	}
	base := hash([]string{ns, deploy, chatRuntime}, nil)
	if again := hash([]string{ns, deploy, chatRuntime}, nil); again != base {
		t.Fatal("same input, different hash")
	}
	if h := hash([]string{ns, deploy, chatRuntime, nsPolicy}, nil); h != base {
		t.Error("a policy change must not roll the pods")
	}
	for name, h := range map[string]string{
		"mtls":      hash([]string{ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: agent\n  mtlsMode: strict", 1)}, nil),
		"port":      hash([]string{ns, strings.Replace(deploy, "8080", "9000", 1), chatRuntime}, nil),
		"image":     hash([]string{ns, deploy, chatRuntime}, func(p *gitopsv1.Platform) { p.Images.AuthBridge = "example/authbridge:2" }),
		"gates":     hash([]string{ns, deploy, chatRuntime}, func(p *gitopsv1.Platform) { p.FeatureGates.InjectTools = true }),
		"namespace": hash([]string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-runtime-config, namespace: team}\ndata: {config.yaml: 'session: {enabled: true}'}"}, nil),
	} {
		if h == base {
			t.Errorf("a %s change does not change the hash", name)
		}
	}
}
