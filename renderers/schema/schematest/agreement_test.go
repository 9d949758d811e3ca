package schematest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/schema"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const ns = "schematest"

// Valid objects of each kind, the bases of the cases.
const (
	runtime = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: chat, namespace: schematest}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}
`
	policy = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: team, namespace: schematest}
spec:
  scope: namespace
  policies:
  - path: inbound/request.rego
    content: "package authbridge.ns.inbound.request\n"
`
	card = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentCard
metadata: {name: chat-card, namespace: schematest}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}
`
	source = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: GitSource
metadata: {name: agents, namespace: schematest}
spec:
  url: https://git.example/agents.git
  ref: {branch: main}
`
	sync = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Sync
metadata: {name: agents, namespace: schematest}
spec:
  sourceRef: {name: agents}
  path: ./deploy
`
	cluster = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge, namespace: schematest}
spec:
  kubeConfig: {secretRef: {name: edge-kubeconfig}}
`
)

type agreementCase struct {
	name string
	doc  string
	// field is the field render must name, and the API server too, when they refuse.
	field string
	// renderOnly, when set, says why render refuses an object the API server accepts:
	// a rule render holds beyond the CRDs. The test fails when the API server starts
	// refusing it too, so the reason cannot outlive the divergence.
	renderOnly string
	// createAccepts, when set, says why a create accepts what a server-side apply
	// refuses. Render follows the apply: it is how trustsync writes every object.
	createAccepts string
}

// edit replaces old with new in doc, once; a case whose edit does not apply would test
// the base instead of what it says.
func edit(t *testing.T, doc string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("edit: %q is not in\n%s", pairs[i], doc)
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

// cases are valid and invalid objects of trustsync's and Kagenti's kinds: for each
// kind every kind of rule its CRD states (required fields, types, enums, patterns,
// lengths, item counts, unknown fields, CEL rules), plus the object metadata.
func cases(t *testing.T) []agreementCase {
	e := func(doc string, pairs ...string) string { return edit(t, doc, pairs...) }
	long := strings.Repeat("a", 254)
	noSpecReason := "the CRD does not require spec, so the API server checks spec's required fields only when there is a spec"
	nullReason := "a create's decoder drops a null the schema does not allow; server-side apply keeps it and refuses it"
	return []agreementCase{
		// AgentRuntime.
		{name: "AgentRuntime: good", doc: runtime},
		{name: "AgentRuntime: good, every field", doc: runtime + "  authBridgeMode: lite\n  mtlsMode: strict\n  tlsBridgeMode: enabled\n  egressEnforcement: none\n  identity:\n    spiffe: {trustDomain: example.org}\n    allowedAudiences: [chat]\n"},
		{name: "AgentRuntime: StatefulSet target", doc: e(runtime, "kind: Deployment", "kind: StatefulSet")},
		{name: "AgentRuntime: no type", doc: e(runtime, "  type: agent\n", ""), field: "spec.type"},
		{name: "AgentRuntime: no targetRef", doc: e(runtime, "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}\n", ""), field: "spec.targetRef"},
		{name: "AgentRuntime: targetRef: null", doc: e(runtime, "{apiVersion: apps/v1, kind: Deployment, name: chat}", "null"), field: "spec.targetRef"},
		{name: "AgentRuntime: targetRef without name", doc: e(runtime, ", name: chat}", "}"), field: "spec.targetRef.name"},
		{name: "AgentRuntime: targetRef.kind empty", doc: e(runtime, "kind: Deployment", `kind: ""`), field: "spec.targetRef.kind"},
		{name: "AgentRuntime: targetRef a string", doc: e(runtime, "{apiVersion: apps/v1, kind: Deployment, name: chat}", "chat"), field: "spec.targetRef"},
		{name: "AgentRuntime: type a number", doc: e(runtime, "type: agent", "type: 1"), field: "spec.type"},
		{name: "AgentRuntime: type enum", doc: e(runtime, "type: agent", "type: robot"), field: "spec.type"},
		{name: "AgentRuntime: authBridgeMode enum", doc: runtime + "  authBridgeMode: sidecar\n", field: "spec.authBridgeMode"},
		{name: "AgentRuntime: mtlsMode enum", doc: runtime + "  mtlsMode: mutual\n", field: "spec.mtlsMode"},
		{name: "AgentRuntime: mtlsMode a boolean", doc: runtime + "  mtlsMode: true\n", field: "spec.mtlsMode"},
		{name: "AgentRuntime: tlsBridgeMode enum", doc: runtime + "  tlsBridgeMode: on\n", field: "spec.tlsBridgeMode"},
		{name: "AgentRuntime: egressEnforcement enum", doc: runtime + "  egressEnforcement: block\n", field: "spec.egressEnforcement"},
		{name: "AgentRuntime: trustDomain pattern", doc: runtime + "  identity: {spiffe: {trustDomain: Example.ORG}}\n", field: "spec.identity.spiffe.trustDomain"},
		{name: "AgentRuntime: trustDomain maxLength", doc: runtime + "  identity: {spiffe: {trustDomain: " + strings.Repeat("a", 256) + "}}\n", field: "spec.identity.spiffe.trustDomain"},
		{name: "AgentRuntime: allowedAudiences a string", doc: runtime + "  identity: {allowedAudiences: chat}\n", field: "spec.identity.allowedAudiences"},
		{name: "AgentRuntime: empty audience", doc: runtime + "  identity: {allowedAudiences: [\"\"]}\n", field: "spec.identity.allowedAudiences[0]"},
		{name: "AgentRuntime: CEL tls bridge with envoy", doc: runtime + "  authBridgeMode: envoy-sidecar\n  tlsBridgeMode: enabled\n", field: "spec"},
		{name: "AgentRuntime: CEL tls bridge with waypoint", doc: runtime + "  authBridgeMode: waypoint\n  tlsBridgeMode: enabled\n", field: "spec"},
		{name: "AgentRuntime: CEL tls bridge with proxy-sidecar", doc: runtime + "  authBridgeMode: proxy-sidecar\n  tlsBridgeMode: enabled\n"},
		{name: "AgentRuntime: CEL tls bridge, default mode", doc: runtime + "  tlsBridgeMode: enabled\n"},
		{name: "AgentRuntime: unknown spec field", doc: runtime + "  authBridgemode: lite\n", field: "spec.authBridgemode"},
		{name: "AgentRuntime: unknown top-level field", doc: runtime + "specs: {}\n", field: "specs"},
		{name: "AgentRuntime: unknown metadata field", doc: e(runtime, "metadata: {name: chat,", "metadata: {labelz: {a: b}, name: chat,"), field: "metadata.labelz"},
		{name: "AgentRuntime: unknown status field", doc: runtime + "status: {phase: Ready}\n", field: "status.phase"},
		{name: "AgentRuntime: invalid status is dropped on create", doc: runtime + "status: {observedGeneration: -1}\n"},
		{name: "AgentRuntime: no spec", doc: e(runtime, runtime[strings.Index(runtime, "spec:"):], ""), field: "spec.type", renderOnly: noSpecReason},
		{name: "AgentRuntime: spec: null", doc: e(runtime, runtime[strings.Index(runtime, "spec:"):], "spec: null\n"), field: "spec", createAccepts: nullReason},
		{name: "AgentRuntime: spec a list", doc: e(runtime, runtime[strings.Index(runtime, "spec:"):], "spec: [a]\n"), field: "spec"},
		{name: "AgentRuntime: name not a DNS subdomain", doc: e(runtime, "name: chat, namespace", "name: Chat_1, namespace"), field: "metadata.name"},
		{name: "AgentRuntime: 254-character name", doc: e(runtime, "name: chat, namespace", "name: "+long+", namespace"), field: "metadata.name"},
		{name: "AgentRuntime: no name", doc: e(runtime, "name: chat, namespace", "namespace"), field: "metadata.name"},
		{name: "AgentRuntime: bad label", doc: e(runtime, "metadata: {", "metadata: {labels: {\"bad key!\": x}, "), field: "metadata.labels"},

		// AuthorizationPolicy.
		{name: "AuthorizationPolicy: good", doc: policy},
		{name: "AuthorizationPolicy: good, client scope with clientID", doc: e(policy, "scope: namespace", "scope: client\n  clientID: chat.team-1")},
		{name: "AuthorizationPolicy: no scope takes the default", doc: e(policy, "  scope: namespace\n", "")},
		{name: "AuthorizationPolicy: nested path", doc: e(policy, "path: inbound/request.rego", "path: lib/x/y.rego")},
		{name: "AuthorizationPolicy: no policies", doc: e(policy, policy[strings.Index(policy, "  policies:"):], ""), field: "spec.policies"},
		{name: "AuthorizationPolicy: policies: []", doc: e(policy, policy[strings.Index(policy, "  policies:"):], "  policies: []\n"), field: "spec.policies"},
		{name: "AuthorizationPolicy: policies a string", doc: e(policy, policy[strings.Index(policy, "  policies:"):], "  policies: inbound/request.rego\n"), field: "spec.policies"},
		{name: "AuthorizationPolicy: policy without content", doc: e(policy, "    content: \"package authbridge.ns.inbound.request\\n\"\n", ""), field: "spec.policies[0].content"},
		{name: "AuthorizationPolicy: empty content", doc: e(policy, "content: \"package authbridge.ns.inbound.request\\n\"", `content: ""`), field: "spec.policies[0].content"},
		{name: "AuthorizationPolicy: policy without path", doc: e(policy, "  - path: inbound/request.rego\n    content", "  - content"), field: "spec.policies[0].path"},
		{name: "AuthorizationPolicy: path escapes", doc: e(policy, "path: inbound/request.rego", "path: ../x.rego"), field: "spec.policies[0].path"},
		{name: "AuthorizationPolicy: path with a dot segment", doc: e(policy, "path: inbound/request.rego", "path: a/.hidden.rego"), field: "spec.policies[0].path"},
		{name: "AuthorizationPolicy: path upper case", doc: e(policy, "path: inbound/request.rego", "path: Inbound/Request.rego"), field: "spec.policies[0].path"},
		{name: "AuthorizationPolicy: path not Rego", doc: e(policy, "path: inbound/request.rego", "path: inbound/request.txt"), field: "spec.policies[0].path"},
		{name: "AuthorizationPolicy: scope enum", doc: e(policy, "scope: namespace", "scope: cluster"), field: "spec.scope"},
		{name: "AuthorizationPolicy: clientID pattern", doc: e(policy, "scope: namespace", "scope: client\n  clientID: spiffe://td/ns/a/sa/b"), field: "spec.clientID"},
		{name: "AuthorizationPolicy: clientID maxLength", doc: e(policy, "scope: namespace", "scope: client\n  clientID: "+long), field: "spec.clientID"},
		{name: "AuthorizationPolicy: clientID a number", doc: e(policy, "scope: namespace", "scope: client\n  clientID: 7"), field: "spec.clientID"},
		{name: "AuthorizationPolicy: unknown field", doc: policy + "  clientid: chat\n", field: "spec.clientid"},
		{name: "AuthorizationPolicy: no spec", doc: e(policy, policy[strings.Index(policy, "spec:"):], ""), field: "spec.policies", renderOnly: noSpecReason},

		// AgentCard.
		{name: "AgentCard: good", doc: card},
		{name: "AgentCard: good, every field", doc: card + "  syncPeriod: 1m\n  identityBinding: {trustDomain: example.org, strict: true}\n  sigstoreVerification: {certificateIdentity: a@example.org, certificateOIDCIssuer: https://issuer.example}\n"},
		{name: "AgentCard: no targetRef", doc: e(card, "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}\n", "  syncPeriod: 30s\n"), field: "spec.targetRef"},
		{name: "AgentCard: spec: {}", doc: e(card, "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}\n", "spec: {}\n"), field: "spec.targetRef"},
		{name: "AgentCard: targetRef: null", doc: e(card, "{apiVersion: apps/v1, kind: Deployment, name: chat}", "null"), field: "spec.targetRef"},
		{name: "AgentCard: targetRef: {}", doc: e(card, "{apiVersion: apps/v1, kind: Deployment, name: chat}", "{}"), field: "spec.targetRef.name"},
		{name: "AgentCard: targetRef without kind", doc: e(card, "kind: Deployment, ", ""), field: "spec.targetRef.kind"},
		{name: "AgentCard: targetRef.name empty", doc: e(card, "name: chat}", `name: ""}`), field: "spec.targetRef.name"},
		{name: "AgentCard: targetRef.apiVersion a number", doc: e(card, "apiVersion: apps/v1, kind", "apiVersion: 1, kind"), field: "spec.targetRef.apiVersion"},
		{name: "AgentCard: targetRef a list", doc: e(card, "{apiVersion: apps/v1, kind: Deployment, name: chat}", "[chat]"), field: "spec.targetRef"},
		{name: "AgentCard: strict a string", doc: card + "  identityBinding: {strict: \"yes\"}\n", field: "spec.identityBinding.strict"},
		{name: "AgentCard: syncPeriod a number", doc: card + "  syncPeriod: 30\n", field: "spec.syncPeriod"},
		{name: "AgentCard: targetRef typo", doc: e(card, "  targetRef:", "  targetref:"), field: "spec.targetref"},
		{name: "AgentRuntime: optional field null", doc: runtime + "  authBridgeMode: null\n", field: "spec.authBridgeMode", createAccepts: nullReason},
		{name: "AgentRuntime: defaulted field null", doc: runtime + "  mtlsMode: null\n"},
		{name: "AgentRuntime: optional object null", doc: runtime + "  identity: null\n", field: "spec.identity", createAccepts: nullReason},
		{name: "AgentRuntime: labels null", doc: e(runtime, "metadata: {", "metadata: {labels: null, ")},
		{name: "AgentRuntime: status null", doc: runtime + "status: null\n"},
		{name: "AgentCard: optional object null", doc: card + "  identityBinding: null\n", field: "spec.identityBinding", createAccepts: nullReason},
		{name: "AgentRuntime: list item null", doc: runtime + "  identity: {allowedAudiences: [null]}\n", field: "spec.identity.allowedAudiences[0]"},
		{name: "Sync: nested null", doc: sync + "  drift: {mode: null, ignore: null}\n", field: "spec.drift.ignore", createAccepts: nullReason},
		{name: "AuthorizationPolicy: scope null", doc: e(policy, "scope: namespace", "scope: null")},
		{name: "AgentCard: unknown field", doc: card + "  selector: {matchLabels: {app: chat}}\n", field: "spec.selector"},
		{name: "AgentCard: status is dropped on create", doc: card + "status: {protocol: a2a, cardId: x}\n"},
		{name: "AgentCard: no spec", doc: e(card, card[strings.Index(card, "spec:"):], ""), field: "spec.targetRef", renderOnly: noSpecReason},
		{name: "AgentCard: spec: null", doc: e(card, card[strings.Index(card, "spec:"):], "spec: null\n"), field: "spec", createAccepts: nullReason},
		{name: "AgentCard: spec a string", doc: e(card, card[strings.Index(card, "spec:"):], "spec: chat\n"), field: "spec"},
		{name: "AgentCard: bad finalizer", doc: e(card, "metadata: {", "metadata: {finalizers: [\"a/b/c\"], "), field: "metadata.finalizers"},

		// GitSource.
		{name: "GitSource: good", doc: source},
		{name: "GitSource: good, ssh, commit status, preview, receiver", doc: e(source, "url: https://git.example/agents.git", "url: git@git.example:team/agents.git") +
			"  commitStatus: {provider: github, secretRef: {name: gh}}\n  preview: {failOn: any-grant}\n  receiver: {type: github, secretRef: {name: hook}}\n"},
		{name: "GitSource: good, commit", doc: e(source, "ref: {branch: main}", "ref: {commit: "+strings.Repeat("0a", 20)+"}")},
		{name: "GitSource: no url", doc: e(source, "  url: https://git.example/agents.git\n", ""), field: "spec.url"},
		{name: "GitSource: url pattern", doc: e(source, "url: https://git.example/agents.git", "url: ftp://git.example/agents.git"), field: "spec.url"},
		{name: "GitSource: url maxLength", doc: e(source, "agents.git", strings.Repeat("a", 2048)), field: "spec.url"},
		{name: "GitSource: CEL url with a password", doc: e(source, "https://git.example", "https://bot:hunter2@git.example"), field: "spec.url"},
		{name: "GitSource: CEL url with a token", doc: e(source, "https://git.example", "https://ghp_x@git.example"), field: "spec.url"},
		{name: "GitSource: CEL url with a query", doc: e(source, "agents.git", "agents.git?access_token=x"), field: "spec.url"},
		{name: "GitSource: CEL two refs", doc: e(source, "ref: {branch: main}", "ref: {branch: main, tag: v1}"), field: "spec.ref"},
		{name: "GitSource: commit pattern", doc: e(source, "ref: {branch: main}", "ref: {commit: abc}"), field: "spec.ref.commit"},
		{name: "GitSource: CEL preview without commitStatus", doc: source + "  preview: {failOn: none}\n", field: "spec"},
		{name: "GitSource: preview failOn enum", doc: source + "  commitStatus: {provider: github, secretRef: {name: gh}}\n  preview: {failOn: always}\n", field: "spec.preview.failOn"},
		{name: "GitSource: commitStatus provider enum", doc: source + "  commitStatus: {provider: jenkins, secretRef: {name: gh}}\n", field: "spec.commitStatus.provider"},
		{name: "GitSource: commitStatus without secretRef", doc: source + "  commitStatus: {provider: github}\n", field: "spec.commitStatus.secretRef"},
		{name: "GitSource: CEL commitStatus address with a query", doc: source + "  commitStatus: {provider: gitea, secretRef: {name: gh}, address: \"https://gitea.example/?x=1\"}\n", field: "spec.commitStatus.address"},
		{name: "GitSource: receiver type enum", doc: source + "  receiver: {type: jenkins, secretRef: {name: hook}}\n", field: "spec.receiver.type"},
		{name: "GitSource: secretRef.name empty", doc: source + "  secretRef: {name: \"\"}\n", field: "spec.secretRef.name"},
		{name: "GitSource: suspend a string", doc: source + "  suspend: \"true\"\n", field: "spec.suspend"},
		{name: "GitSource: interval a number", doc: source + "  interval: 5\n", field: "spec.interval"},
		{name: "GitSource: unknown field", doc: source + "  branch: main\n", field: "spec.branch"},

		// Sync.
		{name: "Sync: good", doc: sync},
		{name: "Sync: good, every field", doc: sync + "  interval: 1m\n  retryInterval: 30s\n  timeout: 2m\n  prune: false\n  wait: true\n  suspend: false\n  targetNamespace: team\n  serviceAccountName: deployer\n" +
			"  drift: {mode: warn, ignore: [{paths: [/spec/replicas], target: {kind: Deployment}}]}\n"},
		{name: "Sync: no sourceRef", doc: e(sync, "  sourceRef: {name: agents}\n", ""), field: "spec.sourceRef"},
		{name: "Sync: sourceRef.name empty", doc: e(sync, "{name: agents}", `{name: ""}`), field: "spec.sourceRef.name"},
		{name: "Sync: sourceRef.kind enum", doc: e(sync, "{name: agents}", "{kind: OCIRepository, name: agents}"), field: "spec.sourceRef.kind"},
		{name: "Sync: drift.mode enum", doc: sync + "  drift: {mode: ignore}\n", field: "spec.drift.mode"},
		{name: "Sync: drift.ignore paths: []", doc: sync + "  drift: {ignore: [{paths: []}]}\n", field: "spec.drift.ignore[0].paths"},
		{name: "Sync: drift.ignore without paths", doc: sync + "  drift: {ignore: [{target: {kind: Deployment}}]}\n", field: "spec.drift.ignore[0].paths"},
		{name: "Sync: good, a fleet Sync", doc: sync + "  clusterSelector: {matchLabels: {env: prod}}\n  clusterOverlay: ./envs/${cluster.labels.env}\n" +
			"  rollout: {waves: [{name: canary, clusterSelector: {matchLabels: {env: dev}}, maxUnavailable: 25%}], soak: 5m, progressDeadline: 10m, failureBudget: 1}\n"},
		{name: "Sync: CEL rollout without clusterSelector", doc: sync + "  rollout: {waves: [{name: canary, clusterSelector: {}}]}\n", field: "spec"},
		{name: "Sync: CEL clusterOverlay without clusterSelector", doc: sync + "  clusterOverlay: ./envs/prod\n", field: "spec"},
		{name: "Sync: rollout without waves", doc: sync + "  clusterSelector: {}\n  rollout: {waves: []}\n", field: "spec.rollout.waves"},
		{name: "Sync: wave without name", doc: sync + "  clusterSelector: {}\n  rollout: {waves: [{clusterSelector: {}}]}\n", field: "spec.rollout.waves[0].name"},
		{name: "Sync: failureBudget negative", doc: sync + "  clusterSelector: {}\n  rollout: {waves: [{name: a, clusterSelector: {}}], failureBudget: -1}\n", field: "spec.rollout.failureBudget"},
		{name: "Sync: clusterSelector expression without operator", doc: sync + "  clusterSelector: {matchExpressions: [{key: env}]}\n", field: "spec.clusterSelector.matchExpressions[0].operator"},
		{name: "Sync: prune a string", doc: sync + "  prune: \"yes\"\n", field: "spec.prune"},
		{name: "Sync: unknown field", doc: sync + "  prunne: true\n", field: "spec.prunne"},
		{name: "Sync: no spec", doc: e(sync, sync[strings.Index(sync, "spec:"):], ""), field: "spec.sourceRef", renderOnly: noSpecReason},

		// Cluster.
		{name: "Cluster: good", doc: cluster},
		{name: "Cluster: no spec, no required field", doc: e(cluster, cluster[strings.Index(cluster, "spec:"):], "")},
		{name: "Cluster: secretRef without name", doc: e(cluster, "{name: edge-kubeconfig}", "{}"), field: "spec.kubeConfig.secretRef.name"},
		{name: "Cluster: trustDomain pattern", doc: cluster + "  platform: {trustDomain: Example.ORG}\n", field: "spec.platform.trustDomain"},
		{name: "Cluster: keycloak url pattern", doc: cluster + "  platform: {keycloak: {url: keycloak.example}}\n", field: "spec.platform.keycloak.url"},
		{name: "Cluster: serviceAccountName maxLength", doc: cluster + "  serviceAccountName: " + long + "\n", field: "spec.serviceAccountName"},
		{name: "Cluster: featureGate a string", doc: cluster + "  platform: {featureGates: {envoyProxy: \"false\"}}\n", field: "spec.platform.featureGates.envoyProxy"},
	}
}

// upstreamCards are renderers/testdata/upstream-agentcards as cases: the one without a
// targetRef is refused, the others accepted.
func upstreamCards(t *testing.T) []agreementCase {
	files, err := filepath.Glob("../../testdata/upstream-agentcards/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no upstream AgentCards (%v)", err)
	}
	var out []agreementCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := agreementCase{name: "upstream " + filepath.Base(f), doc: string(data)}
		if filepath.Base(f) == "card-without-targetref.yaml" {
			c.field = "spec.targetRef"
		}
		out = append(out, c)
	}
	return out
}

// TestRenderRefusesExactlyWhatTheAPIServerRefuses gives each object to renderers/schema
// and to a real kube-apiserver with trustsync's CRDs twice: as a strict server-side
// dry-run create, and as the dry-run server-side apply trustsync makes. Render must
// refuse exactly when the apply does (except for the rules it holds beyond the CRDs,
// each with its reason), the create must agree with the apply (except where its decoder
// drops nulls), and each render error must name the file, the object and a field the
// API server names too.
func TestRenderRefusesExactlyWhatTheAPIServerRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range []string{ns, "team1"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	all := append(cases(t), upstreamCards(t)...)
	seen := map[string]bool{}
	for _, tc := range all {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			obj := manifest.New(u.DeepCopy(), "repo/x.yaml")
			renderErr := schema.Check([]*manifest.Object{obj})
			createErr := env.Client.Create(ctx, u.DeepCopy(), client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
			applyErr := env.Client.Patch(ctx, u.DeepCopy(), client.Apply, client.DryRunAll, client.FieldOwner("trustsync"), client.ForceOwnership)

			switch {
			case tc.createAccepts != "" && (createErr != nil || applyErr == nil):
				t.Fatalf("want a create to accept what an apply refuses (%s):\n  create: %v\n  apply:  %v", tc.createAccepts, createErr, applyErr)
			case tc.createAccepts == "" && (createErr != nil) != (applyErr != nil):
				t.Fatalf("create and apply disagree:\n  create: %v\n  apply:  %v", createErr, applyErr)
			}
			if tc.renderOnly != "" {
				if renderErr == nil || applyErr != nil {
					t.Fatalf("want render to refuse what the API server accepts (%s):\n  render: %v\n  apply:  %v", tc.renderOnly, renderErr, applyErr)
				}
			} else {
				refused := renderErr != nil
				if (applyErr != nil) != refused {
					t.Fatalf("render and the API server disagree:\n  render: %v\n  create: %v\n  apply:  %v", renderErr, createErr, applyErr)
				}
				if !refused {
					if tc.field != "" {
						t.Fatalf("accepted, want a refusal naming %s", tc.field)
					}
					return
				}
				if tc.field == "" {
					t.Fatalf("refused, want it accepted:\n  render: %v\n  apply:  %v", renderErr, applyErr)
				}
			}

			var server string
			if tc.renderOnly == "" {
				server = fmt.Sprint(createErr, "\n", applyErr)
			}
			// Unknown fields stop the API server at decoding; render goes on and may find
			// more, which the API server would report once they are fixed.
			decodingOnly := strings.Contains(server, "strict decoding error")
			named := false
			for _, e := range manifest.Errors(renderErr) {
				var me *manifest.Error
				if !errors.As(e, &me) {
					t.Errorf("not a manifest.Error: %v", e)
					continue
				}
				if me.File != "repo/x.yaml" || me.Object != obj.Ref() || me.Field == "" {
					t.Errorf("error does not name file, object and field: %v", e)
				}
				if want := "repo/x.yaml: " + obj.Ref().String() + ": " + me.Field + ": "; !strings.HasPrefix(e.Error(), want) {
					t.Errorf("error %q does not start with %q", e, want)
				}
				if server != "" && !decodingOnly && !strings.Contains(server, me.Field) {
					t.Errorf("render names field %s, the API server does not:\n  render: %v\n  server: %s", me.Field, e, server)
				}
				named = named || me.Field == tc.field
			}
			if !named {
				t.Errorf("render does not name %s: %v", tc.field, renderErr)
			}
			if server != "" && !strings.Contains(server, tc.field) {
				t.Errorf("the API server does not name %s: %s", tc.field, server)
			}
		})
	}
}
