package secureprofile

import (
	"slices"
	"strings"
	"testing"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// userID builds a repository's ClusterSPIFFEID with the given spec lines.
func userID(name, spec string) string {
	return "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: " + name + "}\nspec:\n" + spec
}

const (
	teamA     = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}"
	teamAApp  = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: team-a}\ndata: {a: b}"
	confined  = "  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}\n  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}\n  podSelector: {matchLabels: {app: web}}\n"
	pinnedNSA = "  spiffeIDTemplate: spiffe://localtest.me/ns/team-a/sa/{{.PodSpec.ServiceAccountName}}\n  namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [team-a]}]}\n  podSelector: {matchLabels: {app: web}}\n"
)

func allowUserIDs(p *gitopsv1.Platform) { p.Spire.AllowUserClusterSPIFFEIDs = true }

// TestRepositoryIdentities: a repository cannot register SPIRE identities of its own,
// unless the platform allows ClusterSPIFFEIDs, and then only ones confined to the
// revision's namespaces.
func TestRepositoryIdentities(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		// want are the errors, in order; none means the expansion must succeed.
		want []string
	}{
		{
			name: "a ClusterSPIFFEID is refused by default",
			docs: []string{teamA, userID("web", confined)},
			want: []string{`repo.yaml: ClusterSPIFFEID web: kind: ClusterSPIFFEIDs are refused in a repository: one can give any pod of the cluster any SPIFFE ID`},
		},
		{
			name: "any version of it",
			docs: []string{teamA, strings.Replace(userID("web", confined), "v1alpha1", "v1beta1", 1)},
			want: []string{`repo.yaml: ClusterSPIFFEID web: kind: ClusterSPIFFEIDs are refused`},
		},
		{
			name:     "static entries and federation are refused even when ClusterSPIFFEIDs are allowed",
			platform: allowUserIDs,
			docs: []string{
				"apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: s}\nspec: {spiffeID: spiffe://cluster.local/ns/team-b/sa/x, parentID: spiffe://cluster.local/spire/server, selectors: [k8s:ns:team-a]}",
				"apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterFederatedTrustDomain\nmetadata: {name: f}\nspec: {trustDomain: evil.example, bundleEndpointURL: https://evil.example}",
			},
			want: []string{
				`repo.yaml: ClusterFederatedTrustDomain f: kind: ClusterFederatedTrustDomain objects are refused in a repository`,
				`repo.yaml: ClusterStaticEntry s: kind: ClusterStaticEntry objects are refused in a repository`,
			},
		},
		{
			name:     "allowed and confined by {{ .PodMeta.Namespace }}",
			platform: allowUserIDs,
			docs:     []string{teamA, teamAApp, userID("web", confined)},
		},
		{
			name:     "allowed and pinned to a namespace of the revision",
			platform: allowUserIDs,
			docs:     []string{teamAApp, userID("web", pinnedNSA)},
		},
		{
			name:     "narrowing terms beside the pinning one are fine",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(confined, "matchLabels: {kubernetes.io/metadata.name: team-a}", "matchLabels: {kubernetes.io/metadata.name: team-a}, matchExpressions: [{key: tier, operator: NotIn, values: [x]}]", 1))},
		},
		{
			name:     "team-a's pods with team-b's ServiceAccount",
			platform: allowUserIDs,
			docs:     []string{teamA, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}", userID("steal", strings.Replace(pinnedNSA, "ns/team-a/sa/{{.PodSpec.ServiceAccountName}}", "ns/team-b/sa/planner-agent", 1))},
			want: []string{
				`repo.yaml: ClusterSPIFFEID steal: spec.spiffeIDTemplate: names namespace "team-b", but the namespaceSelector also selects pods of team-a; pods would get the identity of another namespace`,
				`repo.yaml: ClusterSPIFFEID steal: spec.spiffeIDTemplate: the ServiceAccount must be {{ .PodSpec.ServiceAccountName }}, not "planner-agent"`,
			},
		},
		{
			name:     "a namespace the revision does not have",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(confined, "name: team-a}", "name: team-b}", 1))},
			want:     []string{`repo.yaml: ClusterSPIFFEID web: spec.namespaceSelector: selects namespace "team-b", which is not a namespace of this revision (it has team-a)`},
		},
		{
			name:     "a template naming another namespace",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(pinnedNSA, "ns/team-a/", "ns/team-b/", 1))},
			want:     []string{`repo.yaml: ClusterSPIFFEID web: spec.spiffeIDTemplate: names namespace "team-b", which is not a namespace of this revision (it has team-a)`},
		},
		{
			name:     "the platform namespace is never the revision's",
			platform: allowUserIDs,
			docs: []string{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: trustsync-system}",
				userID("web", strings.Replace(confined, "name: team-a}", "name: trustsync-system}", 1))},
			want: []string{`spec.namespaceSelector: selects namespace "trustsync-system", which is not a namespace of this revision (it has none)`},
		},
		{
			name:     "an object of an unknown kind claims no namespace",
			platform: allowUserIDs,
			docs:     []string{"apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x, namespace: team-a}", userID("web", confined)},
			want:     []string{`spec.namespaceSelector: selects namespace "team-a", which is not a namespace of this revision (it has none)`},
		},
		{
			name:     "no namespace selector",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", "  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}\n  podSelector: {matchLabels: {app: web}}\n")},
			want:     []string{`repo.yaml: ClusterSPIFFEID web: spec.namespaceSelector: required: without it the ClusterSPIFFEID selects pods in every namespace`},
		},
		{
			name:     "empty selectors",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", "  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}\n  namespaceSelector: {}\n  podSelector: {}\n")},
			want: []string{
				`repo.yaml: ClusterSPIFFEID web: spec.namespaceSelector: must pin the namespaces by kubernetes.io/metadata.name`,
				`repo.yaml: ClusterSPIFFEID web: spec.podSelector: required and not empty`,
			},
		},
		{
			name:     "a selector by another label does not pin namespaces",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(confined, "kubernetes.io/metadata.name: team-a", "team: a", 1))},
			want:     []string{`spec.namespaceSelector: must pin the namespaces by kubernetes.io/metadata.name`},
		},
		{
			name:     "NotIn on the name label does not pin namespaces",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(confined, "matchLabels: {kubernetes.io/metadata.name: team-a}", "matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]", 1))},
			want:     []string{`spec.namespaceSelector: must pin the namespaces by kubernetes.io/metadata.name`},
		},
		{
			name:     "an invalid selector",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", strings.Replace(confined, "matchLabels: {kubernetes.io/metadata.name: team-a}", "matchExpressions: [{key: kubernetes.io/metadata.name, operator: Near, values: [team-a]}]", 1))},
			want:     []string{`repo.yaml: ClusterSPIFFEID web: spec.namespaceSelector.matchExpressions[0].operator: Invalid value: "Near"`},
		},
		{
			name:     "a namespace template with other namespaces in the selector",
			platform: allowUserIDs,
			docs: []string{teamA, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}",
				userID("web", strings.Replace(pinnedNSA, "values: [team-a]", "values: [team-a, team-b]", 1))},
			want: []string{`spec.spiffeIDTemplate: names namespace "team-a", but the namespaceSelector also selects pods of team-b`},
		},
		{
			name:     "templates beyond the three accepted fields",
			platform: allowUserIDs,
			docs: []string{teamA,
				userID("labels", strings.Replace(confined, "{{ .PodMeta.Namespace }}", "{{ .PodMeta.Labels.ns }}", 1)),
				userID("trim", strings.Replace(confined, "{{ .PodSpec.ServiceAccountName }}", "{{- .PodSpec.ServiceAccountName }}", 1)),
				userID("path", strings.Replace(confined, "spiffe://{{ .TrustDomain }}/ns/", "spiffe://{{ .TrustDomain }}/x/ns/", 1)),
				userID("td", strings.Replace(confined, "{{ .TrustDomain }}", "evil.example", 1)),
			},
			want: []string{
				`ClusterSPIFFEID labels: spec.spiffeIDTemplate: the namespace must be {{ .PodMeta.Namespace }} or a namespace of this revision, not "{{ .PodMeta.Labels.ns }}"`,
				`ClusterSPIFFEID path: spec.spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/x/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}" must have the form spiffe://<trust domain>/ns/<namespace>/sa/{{ .PodSpec.ServiceAccountName }}`,
				`ClusterSPIFFEID td: spec.spiffeIDTemplate: trust domain "evil.example" is not the platform's (localtest.me)`,
				`ClusterSPIFFEID trim: spec.spiffeIDTemplate: the ServiceAccount must be {{ .PodSpec.ServiceAccountName }}, not "{{- .PodSpec.ServiceAccountName }}"`,
			},
		},
		{
			name:     "fields that reach beyond the pods",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", confined+"  admin: true\n  downstream: true\n  dnsNameTemplates: [planner.team-b.svc]\n  federatesWith: [evil.example]\n  className: other\n  newField: x\n")},
			want:     []string{`repo.yaml: ClusterSPIFFEID web: spec.newField: unknown field (not in the spire.spiffe.io/v1alpha1 ClusterSPIFFEID API)`},
		},
		{
			name:     "fields that reach beyond the pods, known ones",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("web", confined+"  admin: true\n  downstream: true\n  dnsNameTemplates: [planner.team-b.svc]\n  federatesWith: [evil.example]\n  className: other\n")},
			want: []string{
				`spec.admin: admin entries may call the SPIRE server's administrative API`,
				`spec.className: "other" is not the platform's SPIRE class (spire.className); it must be unset`,
				`spec.dnsNameTemplates: DNS names in an SVID can claim any Service of the cluster`,
				`spec.downstream: a downstream entry gets a CA that signs any SPIFFE ID of the trust domain`,
				`spec.federatesWith: federation with other trust domains is the platform's decision`,
			},
		},
		{
			name:     "names of the form trustsync gives its own",
			platform: allowUserIDs,
			docs:     []string{teamA, userID("team-b.planner-agent", confined)},
			want:     []string{`repo.yaml: ClusterSPIFFEID team-b.planner-agent: metadata.name: names with a dot are trustsync's`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			checkErrors(t, res, err, tt.want)
		})
	}
}

// TestCollisions: an object of the repository that trustsync generates itself is an
// error, whichever generator makes it; objects the expansion reads instead of
// generating are not.
func TestCollisions(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		want     []string
	}{
		{
			name: "the per-agent AuthBridge configuration",
			docs: []string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config-chat, namespace: team}\ndata: {config.yaml: 'mode: proxy-sidecar'}"},
			want: []string{`repo.yaml: ConfigMap team/authbridge-config-chat: metadata.name: trustsync generates this object for AgentRuntime team/chat; a repository cannot bring its own`},
		},
		{
			name: "the feature gates, even in a revision that generates none",
			docs: []string{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kagenti-feature-gates, namespace: trustsync-system}\ndata: {feature-gates.yaml: 'globalEnabled: false'}"},
			want: []string{`repo.yaml: ConfigMap trustsync-system/kagenti-feature-gates: metadata.name: trustsync generates this object for the platform (every Sync renders the same one)`},
		},
		{
			name: "the default global policy, even beside a global policy of the repository",
			docs: []string{strings.NewReplacer("name: team, namespace: team", "name: default, namespace: trustsync-system", "scope: namespace", "scope: global").Replace(nsPolicy)},
			want: []string{`repo.yaml: AuthorizationPolicy trustsync-system/default: metadata.name: trustsync generates this object for the platform`},
		},
		{
			name: "the generated ClusterSPIFFEID, whatever namespace kustomize gave the copy",
			docs: []string{ns, deploy, chatRuntime, strings.Replace(userID("team.chat", confined), "{name: team.chat}", "{name: team.chat, namespace: team}", 1)},
			platform: func(p *gitopsv1.Platform) {
				p.Spire.AllowUserClusterSPIFFEIDs = true
			},
			want: []string{
				`repo.yaml: ClusterSPIFFEID team/team.chat: metadata.name: names with a dot are trustsync's`,
				`repo.yaml: ClusterSPIFFEID team/team.chat: metadata.name: trustsync generates this object for AgentRuntime team/chat`,
				`repo.yaml: ClusterSPIFFEID team/team.chat: spec.namespaceSelector: selects namespace "team-a", which is not a namespace of this revision (it has team)`,
			},
		},
		{
			name: "the TLS-bridge issuer of a namespace",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "type: agent", "type: agent\n  tlsBridgeMode: enabled", 1),
				"apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: authbridge-tls-bridge-selfsigned, namespace: team}\nspec: {ca: {secretName: mine}}"},
			want: []string{`repo.yaml: Issuer team/authbridge-tls-bridge-selfsigned: metadata.name: trustsync generates this object for namespace team`},
		},
		{
			name: "Kuadrant, when the platform renders it",
			docs: []string{"apiVersion: kuadrant.io/v1beta1\nkind: Kuadrant\nmetadata: {name: kuadrant, namespace: kuadrant-system}"},
			platform: func(p *gitopsv1.Platform) {
				p.Kuadrant.Enabled = true
			},
			want: []string{`repo.yaml: Kuadrant kuadrant-system/kuadrant: metadata.name: trustsync generates this object for the platform`},
		},
		{
			name: "a repository's Kuadrant is its own when the platform renders none",
			docs: []string{"apiVersion: kuadrant.io/v1beta1\nkind: Kuadrant\nmetadata: {name: kuadrant, namespace: kuadrant-system}"},
		},
		{
			name: "inputs the expansion reads are not collisions",
			docs: []string{ns, deploy, chatRuntime,
				"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: chat, namespace: team}",
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-runtime-config, namespace: team}\ndata: {config.yaml: 'pipeline: {inbound: {plugins: [{name: jwt-validation, config: {issuer: https://kc.example/realms/r}}]}}'}",
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: spiffe-helper-config, namespace: team}\ndata: {helper.conf: ''}",
			},
		},
		{
			name: "two agents whose workloads share a name",
			docs: []string{ns, deploy,
				strings.NewReplacer("kind: Deployment", "kind: StatefulSet", "{name: chat, namespace: team}", "{name: chat, namespace: team}\n", "containers:", "serviceAccountName: other\n      containers:").Replace(deploy),
				chatRuntime,
				strings.NewReplacer("name: chat, namespace", "name: chat-sts, namespace", "kind: Deployment", "kind: StatefulSet").Replace(chatRuntime),
			},
			want: []string{`repo.yaml: AgentRuntime team/chat-sts: spec.targetRef: trustsync would generate ClusterSPIFFEID team.chat for this agent and for AgentRuntime team/chat`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			checkErrors(t, res, err, tt.want)
		})
	}
}

// checkErrors wants exactly the errors want, in sorted order, or success when want is empty.
func checkErrors(t *testing.T, res *Result, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("want success, got:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("expanded %d objects, want %d errors", len(res.Objects), len(want))
	}
	if res != nil {
		t.Fatal("a failed expansion must return no objects")
	}
	errs := manifest.Errors(err)
	texts := make([]string, len(errs))
	for i, e := range errs {
		texts[i] = e.Error()
	}
	slices.Sort(texts)
	if len(texts) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(texts), len(want), strings.Join(texts, "\n"))
	}
	for i, got := range texts {
		if !strings.Contains(got, want[i]) {
			t.Errorf("error %d:\n  got  %s\n  want %s", i, got, want[i])
		}
	}
}
