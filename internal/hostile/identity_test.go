package hostile

import (
	"slices"
	"strings"
	"testing"
)

// Trees of this file: plain manifests listed by a kustomization. Names carry an id
// prefix so they do not meet other files' helpers.
const (
	idTeamA = `apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: research-agent, namespace: team-a}
spec:
  selector: {matchLabels: {app: research-agent}}
  template:
    metadata: {labels: {app: research-agent}}
    spec: {containers: [{name: agent, image: example/research:1, ports: [{containerPort: 8080}]}]}
`
	idRuntime = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: research-agent, namespace: team-a}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: research-agent}
`
	// idSteal selects team-a's pods and gives them team-b's planner identity.
	idSteal = `apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata: {name: steal}
spec:
  spiffeIDTemplate: spiffe://example.org/ns/team-b/sa/planner-agent
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}
  podSelector: {matchLabels: {app: research-agent}}
`
	idConfined = `apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata: {name: web}
spec:
  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}
  podSelector: {matchLabels: {app: research-agent}}
`
	idPlatformAllowing = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Platform
trustDomain: example.org
spire: {allowUserClusterSPIFFEIDs: true}
`
)

// idTree is a tree whose kustomization lists the given files, plus the platform file
// beside them (read with --platform, not listed).
func idTree(files map[string]string) map[string]string {
	out := map[string]string{"platform.yaml": idPlatformAllowing}
	var names []string
	for name, content := range files {
		out[name] = content
		names = append(names, name)
	}
	slices.Sort(names)
	out["kustomization.yaml"] = "resources: [" + strings.Join(names, ", ") + "]\n"
	return out
}

// TestRepositoryCannotMintIdentities: a pull request cannot give pods an identity that
// trustsync did not derive from its AgentRuntimes — not by a ClusterSPIFFEID of its own
// (refused unless the platform allows them, then only confined to its namespaces), not by
// other SPIRE objects, not by bringing an object trustsync generates.
func TestRepositoryCannotMintIdentities(t *testing.T) {
	render := []string{"render", "{tree}"}
	allowing := []string{"render", "{tree}", "--platform", "{tree}/platform.yaml"}
	escape := func(name, from, to string, stderr ...string) Case {
		return Case{Name: name, Args: allowing, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "id.yaml": strings.Replace(idConfined, from, to, 1)}),
			Stderr: append([]string{"id.yaml: ClusterSPIFFEID web: "}, stderr...)}
	}
	run(t, []Case{
		{Name: "team-a's pods with team-b's ServiceAccount", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "id.yaml": idSteal}),
			Stderr: []string{"id.yaml: ClusterSPIFFEID steal: kind: ClusterSPIFFEIDs are refused in a repository", "spire.allowUserClusterSPIFFEIDs"}},
		{Name: "team-a's pods with team-b's ServiceAccount, user ClusterSPIFFEIDs allowed", Args: allowing, Exit: 1,
			Files: idTree(map[string]string{"team-a.yaml": idTeamA, "id.yaml": idSteal}),
			Stderr: []string{
				`id.yaml: ClusterSPIFFEID steal: spec.spiffeIDTemplate: names namespace "team-b", which is not a namespace of this revision (it has team-a)`,
				`id.yaml: ClusterSPIFFEID steal: spec.spiffeIDTemplate: the ServiceAccount must be {{ .PodSpec.ServiceAccountName }}, not "planner-agent"`,
			}},
		{Name: "allowed and confined", Args: allowing, Succeeds: true,
			Files: idTree(map[string]string{"team-a.yaml": idTeamA, "id.yaml": idConfined})},
		escape("another namespace's pods", "name: team-a}}", "name: team-b}}",
			`spec.namespaceSelector: selects namespace "team-b", which is not a namespace of this revision`),
		escape("every namespace", "  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}\n", "",
			"spec.namespaceSelector: required"),
		escape("empty selectors", "  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}\n  podSelector: {matchLabels: {app: research-agent}}\n",
			"  namespaceSelector: {}\n  podSelector: {}\n", "spec.namespaceSelector: must pin the namespaces", "spec.podSelector: required and not empty"),
		escape("a selector that only excludes", "matchLabels: {kubernetes.io/metadata.name: team-a}",
			"matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]", "spec.namespaceSelector: must pin the namespaces"),
		escape("a selector by a label anyone can set", "kubernetes.io/metadata.name: team-a", "team: a", "spec.namespaceSelector: must pin the namespaces"),
		escape("the platform's own namespace", "name: team-a}}", "name: trustsync-system}}", `selects namespace "trustsync-system"`),
		escape("a foreign trust domain", "{{ .TrustDomain }}", "evil.example", `spec.spiffeIDTemplate: trust domain "evil.example" is not the platform's (example.org)`),
		escape("a template on the pod's labels", "{{ .PodMeta.Namespace }}", "{{ .PodMeta.Labels.ns }}", "spec.spiffeIDTemplate: the namespace must be {{ .PodMeta.Namespace }}"),
		escape("a CA for the whole trust domain", "  podSelector:", "  downstream: true\n  admin: true\n  podSelector:", "spec.downstream:", "spec.admin:"),
		escape("DNS names of another team's Service", "  podSelector:", "  dnsNameTemplates: [planner-agent.team-b.svc]\n  podSelector:", "spec.dnsNameTemplates:"),
		escape("a field trustsync does not know", "  podSelector:", "  futureField: true\n  podSelector:", "spec.futureField: unknown field"),
		{Name: "a static entry", Args: allowing, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "entry.yaml": "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: s}\nspec: {spiffeID: spiffe://example.org/ns/team-b/sa/planner-agent, parentID: spiffe://example.org/spire/server, selectors: ['k8s:ns:team-a']}\n"}),
			Stderr: []string{"entry.yaml: ClusterStaticEntry s: kind: ClusterStaticEntry objects are refused in a repository"}},
		{Name: "a federated trust domain", Args: allowing, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "fed.yaml": "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterFederatedTrustDomain\nmetadata: {name: f}\nspec: {trustDomain: evil.example, bundleEndpointURL: 'https://evil.example'}\n"}),
			Stderr: []string{"fed.yaml: ClusterFederatedTrustDomain f: kind: ClusterFederatedTrustDomain objects are refused in a repository"}},
		{Name: "the generated ClusterSPIFFEID's name", Args: allowing, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "agent.yaml": idRuntime, "id.yaml": strings.Replace(idConfined, "{name: web}", "{name: team-a.research-agent}", 1)}),
			Stderr: []string{"id.yaml: ClusterSPIFFEID team-a.research-agent: metadata.name: trustsync generates this object for AgentRuntime team-a/research-agent"}},
		{Name: "the feature gates", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"gates.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kagenti-feature-gates, namespace: trustsync-system}\ndata: {feature-gates.yaml: 'globalEnabled: false'}\n"}),
			Stderr: []string{"gates.yaml: ConfigMap trustsync-system/kagenti-feature-gates: metadata.name: trustsync generates this object for the platform"}},
		{Name: "an agent's AuthBridge configuration", Args: render, Exit: 1,
			Files: idTree(map[string]string{"team-a.yaml": idTeamA, "agent.yaml": idRuntime,
				"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config-research-agent, namespace: team-a}\ndata: {config.yaml: 'mode: proxy-sidecar'}\n"}),
			Stderr: []string{"cm.yaml: ConfigMap team-a/authbridge-config-research-agent: metadata.name: trustsync generates this object for AgentRuntime team-a/research-agent"}},
		{Name: "the default global policy", Args: render, Exit: 1,
			Files: idTree(map[string]string{"p.yaml": "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: default, namespace: trustsync-system}\n" +
				"spec:\n  scope: namespace\n  policies: [{path: inbound/request.rego, content: \"package authbridge.ns.inbound.request\\nimport rego.v1\\nallow := true\\n\"}]\n"}),
			Stderr: []string{"p.yaml: AuthorizationPolicy trustsync-system/default: metadata.name: trustsync generates this object for the platform"}},
	})
}

// TestRenderRefusesWhatTheAPIServerWould: kinds and versions trustsync does not serve,
// and names and values the API server would refuse, are refused at render with file,
// object and field — not passed on to fail half-way through an apply.
func TestRenderRefusesWhatTheAPIServerWould(t *testing.T) {
	render := []string{"render", "{tree}"}
	long := strings.Repeat("a", 254)
	with := func(name, from, to string, stderr ...string) Case {
		return Case{Name: name, Args: render, Exit: 1, Stderr: stderr,
			Files: idTree(map[string]string{"team-a.yaml": strings.Replace(idTeamA, from, to, 1), "agent.yaml": idRuntime})}
	}
	agent := func(name, from, to string, stderr ...string) Case {
		return Case{Name: name, Args: render, Exit: 1, Stderr: stderr,
			Files: idTree(map[string]string{"team-a.yaml": idTeamA, "agent.yaml": strings.Replace(idRuntime, from, to, 1)})}
	}
	run(t, []Case{
		{Name: "the two trees render", Args: render, Succeeds: true, Files: idTree(map[string]string{"team-a.yaml": idTeamA, "agent.yaml": idRuntime})},
		agent("AgentRunTime", "kind: AgentRuntime", "kind: AgentRunTime",
			`agent.yaml: AgentRunTime team-a/research-agent: kind: "AgentRunTime" is not a kind of agent.kagenti.dev`, "did you mean AgentRuntime?"),
		agent("agent.kagenti.dev/v1", "agent.kagenti.dev/v1alpha1", "agent.kagenti.dev/v1",
			"agent.yaml: AgentRuntime team-a/research-agent: apiVersion: agent.kagenti.dev/v1 is not a served version of AgentRuntime; use agent.kagenti.dev/v1alpha1"),
		{Name: "AuthorisationPolicy", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"p.yaml": "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorisationPolicy\nmetadata: {name: p, namespace: team-a}\nspec: {scope: namespace}\n"}),
			Stderr: []string{`p.yaml: AuthorisationPolicy team-a/p: kind: "AuthorisationPolicy" is not a kind of agent.kagenti.dev`, "did you mean AuthorizationPolicy?"}},
		{Name: "a Sync with a typo", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"s.yaml": "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Sync\nmetadata: {name: s, namespace: team-a}\nspec: {sourceRef: {name: x}, path: ., prunne: true}\n"}),
			Stderr: []string{"s.yaml: Sync team-a/s: spec.prunne: unknown field (not in the gitops.trustsync.dev/v1alpha1 Sync API)"}},
		{Name: "the Platform in the tree", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "p.yaml": idPlatformAllowing + "metadata: {name: platform}\n"}),
			Stderr: []string{"p.yaml: Platform platform: kind: the Platform is trustsync's configuration file"}},
		with("an invalid namespace name", "name: team-a}", "name: Team_A}",
			`team-a.yaml: Namespace Team_A: metadata.name: Invalid value: "Team_A"`),
		{Name: "a 254-character name", Args: render, Exit: 1,
			Files:  idTree(map[string]string{"team-a.yaml": idTeamA, "agent.yaml": strings.Replace(idRuntime, "{name: research-agent, namespace: team-a}", "{name: "+long+", namespace: team-a}", 1)}),
			Stderr: []string{"agent.yaml: AgentRuntime team-a/" + long + ": metadata.name: Invalid value:", "must be no more than 253 characters"}},
		with("a negative port", "containerPort: 8080", "containerPort: -8080",
			"team-a.yaml: Deployment team-a/research-agent: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: -8080: must be between 1 and 65535, inclusive"),
		with("containers: null", "spec: {containers: [{name: agent, image: example/research:1, ports: [{containerPort: 8080}]}]}", "spec: {containers: null}",
			"team-a.yaml: Deployment team-a/research-agent: spec.template.spec.containers: Required value"),
		agent("an empty audience", "  type: agent\n", "  type: agent\n  identity: {allowedAudiences: ['']}\n",
			"agent.yaml: AgentRuntime team-a/research-agent: spec.identity.allowedAudiences[0]: Invalid value: \"\""),
		{Name: "a workload name too long for the ConfigMap trustsync generates", Args: render, Exit: 1,
			Files: idTree(map[string]string{"team-a.yaml": strings.ReplaceAll(idTeamA, "{name: research-agent,", "{name: "+strings.Repeat("w", 240)+","),
				"agent.yaml": strings.Replace(idRuntime, "name: research-agent}", "name: "+strings.Repeat("w", 240)+"}", 1)}),
			Stderr: []string{"agent.yaml: AgentRuntime team-a/research-agent: trustsync would generate ConfigMap team-a/authbridge-config-" + strings.Repeat("w", 240), "must be no more than 253 characters"}},
	})
}
