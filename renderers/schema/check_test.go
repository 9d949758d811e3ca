package schema

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/manifest"
)

// object parses one YAML document into an object from file repo.yaml.
func object(t *testing.T, doc string) *manifest.Object {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return manifest.New(&unstructured.Unstructured{Object: m}, "repo.yaml")
}

const (
	runtimeDoc = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: chat, namespace: team}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}
`
	syncDoc = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Sync
metadata: {name: agents, namespace: team}
spec:
  sourceRef: {name: agents}
  path: ./deploy
`
	agentCardDoc = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentCard
metadata: {name: card, namespace: team}
`
	deploymentDoc = `apiVersion: apps/v1
kind: Deployment
metadata: {name: chat, namespace: team}
spec:
  selector: {matchLabels: {app: chat}}
  template:
    metadata: {labels: {app: chat}}
    spec:
      containers:
      - name: agent
        image: example/chat:1
        ports: [{containerPort: 8080}]
`
	serviceDoc = `apiVersion: v1
kind: Service
metadata: {name: chat, namespace: team}
spec:
  selector: {app: chat}
  ports: [{port: 80, targetPort: 8080}]
`
)

var long254 = strings.Repeat("a", 254)

// TestCheck: what the API server refuses on create is refused, naming file, object and
// field; what it accepts passes. internal/testenv holds the same cases against a real
// kube-apiserver.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// want are the errors, sorted; none means the object passes.
		want []string
	}{
		{name: "a good AgentRuntime", doc: runtimeDoc},
		{name: "a good Sync", doc: syncDoc},
		{name: "a good Deployment", doc: deploymentDoc},
		{name: "a good Service", doc: serviceDoc},
		{name: "another project's kind: its spec is not ours to check", doc: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {x: 1, replicas: -1}"},
		{
			name: "another project's kind: its metadata is checked like every custom resource's",
			doc:  "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: Not_A_Name}\nspec: {x: 1}",
			want: []string{`repo.yaml: Widget Not_A_Name: metadata.name: Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain must consist of`},
		},
		{name: "another project's kind named like ours", doc: "apiVersion: other.example/v1\nkind: AgentRuntime\nmetadata: {name: x}"},
		{
			name: "a kind typo in agent.kagenti.dev",
			doc:  strings.Replace(runtimeDoc, "kind: AgentRuntime", "kind: AgentRunTime", 1),
			want: []string{`repo.yaml: AgentRunTime team/chat: kind: "AgentRunTime" is not a kind of agent.kagenti.dev (AgentCard, AgentRuntime, AuthorizationPolicy); did you mean AgentRuntime?`},
		},
		{
			name: "British spelling",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorisationPolicy\nmetadata: {name: p, namespace: team}\nspec: {}",
			want: []string{`repo.yaml: AuthorisationPolicy team/p: kind: "AuthorisationPolicy" is not a kind of agent.kagenti.dev (AgentCard, AgentRuntime, AuthorizationPolicy); did you mean AuthorizationPolicy?`},
		},
		{
			name: "a kind with no near miss",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p, namespace: team}",
			want: []string{`repo.yaml: Pipeline team/p: kind: "Pipeline" is not a kind of gitops.trustsync.dev (Cluster, GitSource, Sync)`},
		},
		{
			name: "a version that is not served",
			doc:  strings.Replace(runtimeDoc, "agent.kagenti.dev/v1alpha1", "agent.kagenti.dev/v1", 1),
			want: []string{`repo.yaml: AgentRuntime team/chat: apiVersion: agent.kagenti.dev/v1 is not a served version of AgentRuntime; use agent.kagenti.dev/v1alpha1`},
		},
		{
			name: "a near miss of the group",
			doc:  strings.Replace(runtimeDoc, "agent.kagenti.dev/v1alpha1", "agents.kagenti.dev/v1alpha1", 1),
			want: []string{`repo.yaml: AgentRuntime team/chat: apiVersion: "agents.kagenti.dev" is not an API group; did you mean agent.kagenti.dev/v1alpha1 AgentRuntime?`},
		},
		{
			// Whether the platform reads the family is the expansion's to say; the schema
			// is Kagenti's, as Rossoctl's CRDs are.
			name: "a Rossoctl AuthorizationPolicy is checked against the AuthorizationPolicy schema",
			doc:  "apiVersion: agent.rossoctl.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: team}\nspec: {scope: namespace}",
			want: []string{`repo.yaml: AuthorizationPolicy team/p: spec.policies: Required value`},
		},
		{
			name: "a Rossoctl kind that is not one",
			doc:  "apiVersion: agent.rossoctl.dev/v1alpha1\nkind: AgentRuntimes\nmetadata: {name: p, namespace: team}",
			want: []string{`repo.yaml: AgentRuntimes team/p: kind: "AgentRuntimes" is not a kind of agent.rossoctl.dev (AgentCard, AgentRuntime, AuthorizationPolicy); did you mean AgentRuntime?`},
		},
		{
			name: "the Platform file in the tree",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Platform\ntrustDomain: example.org",
			want: []string{`repo.yaml: Platform : kind: the Platform is trustsync's configuration file, not an object of the cluster`},
		},
		{
			name: "CRD enum",
			doc:  runtimeDoc + "  mtlsMode: mutual\n",
			want: []string{`repo.yaml: AgentRuntime team/chat: spec.mtlsMode: Unsupported value: "mutual": supported values: "disabled", "permissive", "strict"`},
		},
		{
			name: "CRD required field and minimum length",
			doc:  strings.Replace(runtimeDoc, "name: chat}\n", "name: \"\"}\n", 1),
			want: []string{`repo.yaml: AgentRuntime team/chat: spec.targetRef.name: Invalid value: "": spec.targetRef.name in body should be at least 1 chars long`},
		},
		{
			name: "CRD CEL rule",
			doc:  runtimeDoc + "  authBridgeMode: envoy-sidecar\n  tlsBridgeMode: enabled\n",
			want: []string{`repo.yaml: AgentRuntime team/chat: spec: Invalid value: tlsBridgeMode enabled requires authBridgeMode proxy-sidecar or lite`},
		},
		{
			name: "an AgentCard without targetRef",
			doc:  agentCardDoc + "spec: {syncPeriod: 1m}\n",
			want: []string{`repo.yaml: AgentCard team/card: spec.targetRef: Required value`},
		},
		{
			name: "an AgentCard without spec: refused, although the API server takes it",
			doc:  agentCardDoc,
			want: []string{`repo.yaml: AgentCard team/card: spec.targetRef: Required value: the object has no spec, and its CRD requires this field of one`},
		},
		{
			name: "spec: null is refused as server-side apply refuses it",
			doc:  agentCardDoc + "spec: null\n",
			want: []string{`repo.yaml: AgentCard team/card: spec: Invalid value: "null": spec in body must be of type object: "null"`},
		},
		{
			name: "a null without a default is refused as server-side apply refuses it",
			doc:  runtimeDoc + "  identity: null\n",
			want: []string{`repo.yaml: AgentRuntime team/chat: spec.identity: Invalid value: "null": spec.identity in body must be of type object: "null"`},
		},
		{name: "a null with a default takes the default", doc: runtimeDoc + "  mtlsMode: null\n"},
		{
			name: "an AgentCard with spec: {} lacks its targetRef",
			doc:  agentCardDoc + "spec: {}\n",
			want: []string{`repo.yaml: AgentCard team/card: spec.targetRef: Required value`},
		},
		{
			name: "an AgentCard with an empty targetRef",
			doc:  agentCardDoc + "spec: {targetRef: {}}\n",
			want: []string{
				`repo.yaml: AgentCard team/card: spec.targetRef.apiVersion: Required value`,
				`repo.yaml: AgentCard team/card: spec.targetRef.kind: Required value`,
				`repo.yaml: AgentCard team/card: spec.targetRef.name: Required value`,
			},
		},
		{name: "a good AgentCard", doc: agentCardDoc + "spec: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}}\n"},
		{
			name: "a Sync without spec, every field its spec requires",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Sync\nmetadata: {name: agents, namespace: team}\n",
			want: []string{`repo.yaml: Sync team/agents: spec.sourceRef: Required value: the object has no spec`},
		},
		{
			name: "an AgentRuntime without spec, every field its spec requires",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: chat, namespace: team}\n",
			want: []string{
				`repo.yaml: AgentRuntime team/chat: spec.targetRef: Required value: the object has no spec`,
				`repo.yaml: AgentRuntime team/chat: spec.type: Required value: the object has no spec`,
			},
		},
		{
			name: "empty audiences",
			doc:  runtimeDoc + "  identity: {allowedAudiences: [\"\"]}\n",
			want: []string{`repo.yaml: AgentRuntime team/chat: spec.identity.allowedAudiences[0]: Invalid value: "": spec.identity.allowedAudiences[0] in body should be at least 1 chars long`},
		},
		{
			name: "unknown field in a Sync",
			doc:  syncDoc + "  prunne: true\n",
			want: []string{`repo.yaml: Sync team/agents: spec.prunne: unknown field (not in the gitops.trustsync.dev/v1alpha1 Sync API)`},
		},
		{
			name: "CRD object names",
			doc:  strings.Replace(runtimeDoc, "name: chat, namespace: team", "name: Chat_1, namespace: Team", 1),
			want: []string{
				`repo.yaml: AgentRuntime Team/Chat_1: metadata.name: Invalid value: "Chat_1": a lowercase RFC 1123 subdomain must consist of`,
				`repo.yaml: AgentRuntime Team/Chat_1: metadata.namespace: Invalid value: "Team": a lowercase RFC 1123 label must consist of`,
			},
		},
		{
			name: "a 254-character name",
			doc:  strings.Replace(runtimeDoc, "name: chat, namespace", "name: "+long254+", namespace", 1),
			want: []string{`metadata.name: Invalid value: "` + long254 + `": must be no more than 253 characters`},
		},
		{
			name: "a 254-character ConfigMap name",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + long254 + "}",
			want: []string{`repo.yaml: ConfigMap ` + long254 + `: metadata.name: Invalid value: "` + long254 + `": must be no more than 253 characters`},
		},
		{
			name: "a Service name must be a DNS label",
			doc:  strings.Replace(serviceDoc, "name: chat, namespace", "name: chat.v1, namespace", 1),
			want: []string{`repo.yaml: Service team/chat.v1: metadata.name: Invalid value: "chat.v1": must not contain dots`},
		},
		{name: "a Service name may start with a digit (KEP-5311)", doc: strings.Replace(serviceDoc, "name: chat, namespace", "name: 1chat, namespace", 1)},
		{
			name: "a Namespace name must be a DNS label",
			doc:  "apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a}",
			want: []string{`repo.yaml: Namespace team.a: metadata.name: Invalid value: "team.a": must not contain dots`},
		},
		{
			name: "a StatefulSet name must be a DNS label",
			doc:  strings.NewReplacer("kind: Deployment", "kind: StatefulSet", "name: chat, namespace", "name: chat.v1, namespace").Replace(deploymentDoc),
			want: []string{`repo.yaml: StatefulSet team/chat.v1: metadata.name: Invalid value: "chat.v1": must not contain dots`},
		},
		{
			name: "a ClusterRole may have a colon",
			doc:  "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:agent-reader\", namespace: ignored_for_cluster_scope}",
		},
		{
			name: "label and annotation keys and values",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {\"bad key!\": x, ok: \"" + strings.Repeat("v", 64) + "\"}\n  annotations: {\"/nope\": x}",
			want: []string{
				`repo.yaml: ConfigMap c: metadata.annotations: Invalid value: "/nope": prefix part must be non-empty`,
				`repo.yaml: ConfigMap c: metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters`,
				`repo.yaml: ConfigMap c: metadata.labels: Invalid value: "` + strings.Repeat("v", 64) + `": must be no more than 63 bytes`,
			},
		},
		{
			name: "negative ports and replicas",
			doc:  strings.NewReplacer("containerPort: 8080", "containerPort: -1, hostPort: 70000", "selector:", "replicas: -2\n  selector:").Replace(deploymentDoc),
			want: []string{
				`repo.yaml: Deployment team/chat: spec.replicas: Invalid value: -2: must be greater than or equal to 0`,
				`repo.yaml: Deployment team/chat: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: -1: must be between 1 and 65535, inclusive`,
				`repo.yaml: Deployment team/chat: spec.template.spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
			},
		},
		{
			name: "containers: null",
			doc:  strings.Replace(deploymentDoc, "      containers:\n      - name: agent\n        image: example/chat:1\n        ports: [{containerPort: 8080}]\n", "      containers: null\n", 1),
			want: []string{`repo.yaml: Deployment team/chat: spec.template.spec.containers: Required value`},
		},
		{
			name: "containers: []",
			doc:  strings.Replace(deploymentDoc, "      containers:\n      - name: agent\n        image: example/chat:1\n        ports: [{containerPort: 8080}]\n", "      containers: []\n", 1),
			want: []string{`repo.yaml: Deployment team/chat: spec.template.spec.containers: Required value`},
		},
		{
			name: "containers without name or image, twice the same name, env and mounts",
			doc: strings.Replace(deploymentDoc, "        ports: [{containerPort: 8080}]\n",
				"        env: [{name: \"\"}]\n        volumeMounts: [{name: missing, mountPath: /x}]\n      - name: agent\n        image: x\n      - image: example/y\n      initContainers: [{name: Init, image: z}]\n", 1),
			want: []string{
				`spec.template.spec.containers[0].env[0].name: Required value`,
				`spec.template.spec.containers[0].volumeMounts[0].name: Not found: "missing"`,
				`spec.template.spec.containers[1].name: Duplicate value: "agent"`,
				`spec.template.spec.containers[2].name: Required value`,
				`spec.template.spec.initContainers[0].name: Invalid value: "Init": a lowercase RFC 1123 label must consist of`,
			},
		},
		{
			name: "a selector that does not select the pods",
			doc:  strings.Replace(deploymentDoc, "selector: {matchLabels: {app: chat}}", "selector: {matchLabels: {app: other}}", 1),
			want: []string{"repo.yaml: Deployment team/chat: spec.template.metadata.labels: Invalid value: {\"app\":\"chat\"}: `selector` does not match template `labels`"},
		},
		{
			name: "no selector",
			doc:  strings.Replace(deploymentDoc, "  selector: {matchLabels: {app: chat}}\n", "", 1),
			// The API server also finds that no selector selects no pods.
			want: []string{
				`repo.yaml: Deployment team/chat: spec.selector: Required value`,
				"repo.yaml: Deployment team/chat: spec.template.metadata.labels: Invalid value: {\"app\":\"chat\"}: `selector` does not match template `labels`",
			},
		},
		{
			name: "Service ports",
			doc:  strings.Replace(serviceDoc, "ports: [{port: 80, targetPort: 8080}]", "ports: [{port: 0, name: web}, {port: 443, targetPort: 70000}, {port: 8443, name: web, targetPort: not_a_name}]", 1),
			want: []string{
				`spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`,
				`spec.ports[1].name: Required value`,
				`spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
				`spec.ports[2].name: Duplicate value: "web"`,
				`spec.ports[2].targetPort: Invalid value: "not_a_name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
			},
		},
		{
			name: "a Service without ports",
			doc:  strings.Replace(serviceDoc, "  ports: [{port: 80, targetPort: 8080}]\n", "", 1),
			want: []string{`repo.yaml: Service team/chat: spec.ports: Required value`},
		},
		{
			name: "ConfigMap keys",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a/b\": x, ok: v}\nbinaryData: {ok: eQ==}",
			want: []string{
				`repo.yaml: ConfigMap c: binaryData[ok]: Invalid value: "ok": duplicate of key present in data`,
				`repo.yaml: ConfigMap c: data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`,
			},
		},
		{
			name: "unknown field in a built-in kind",
			doc:  strings.Replace(deploymentDoc, "spec:\n", "spec:\n  replica: 2\n", 1),
			want: []string{`repo.yaml: Deployment team/chat: spec.replica: unknown field (not in the apps/v1 Deployment API)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]*manifest.Object{object(t, tt.doc)})
			var got []string
			for _, e := range manifest.Errors(err) {
				got = append(got, e.Error())
			}
			slices.Sort(got)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d:\n  got  %s\n  want %s", i, got[i], tt.want[i])
				}
			}
			for _, e := range manifest.Errors(err) {
				var me *manifest.Error
				if !errorsAs(e, &me) || me.File != "repo.yaml" || (me.Field == "" && me.Object.Kind != "Platform") {
					t.Errorf("error %q does not name file and field", e)
				}
			}
		})
	}
}

func errorsAs(err error, target **manifest.Error) bool {
	e, ok := err.(*manifest.Error)
	*target = e
	return ok
}
