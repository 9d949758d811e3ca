package secureprofile

import (
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// labelled is a Deployment whose pods Kagenti's webhook injects by their label alone.
func labelled(name, labels string) string {
	return strings.NewReplacer("NAME", name, "LABELS", labels).Replace(`apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME, namespace: team}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME, LABELS}}
    spec:
      containers: [{name: agent, image: example/NAME:1, ports: [{containerPort: 8080}]}]`)
}

const nsEnabled = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team, labels: {kagenti-enabled: \"true\"}}"

// TestLabelOnlyEnrolment: a workload whose pods carry kagenti.io/type in an enabled
// namespace, without an AgentRuntime, is an agent with its namespace's defaults, unless
// the platform requires an AgentRuntime; elsewhere it is left alone, as Kagenti's
// webhook leaves it.
func TestLabelOnlyEnrolment(t *testing.T) {
	tests := []struct {
		name    string
		docs    []string
		require bool
		// enrolled are the workloads that become label-only agents.
		enrolled []string
		wantErr  []string
	}{
		{
			name:     "enabled by its Namespace",
			docs:     []string{nsEnabled, labelled("solo", "kagenti.io/type: agent")},
			enrolled: []string{"solo"},
		},
		{
			name:     "a tool, in a namespace an AgentRuntime enables",
			docs:     []string{ns, deploy, chatRuntime, labelled("search", "kagenti.io/type: tool")},
			enrolled: []string{"search"},
		},
		{
			name: "the namespace is not enabled",
			docs: []string{ns, labelled("solo", "kagenti.io/type: agent")},
		},
		{
			name: "the namespace is not in the build",
			docs: []string{labelled("solo", "kagenti.io/type: agent")},
		},
		{
			name: "the pods opt out",
			docs: []string{nsEnabled, labelled("solo", "kagenti.io/type: agent, kagenti.io/inject: disabled")},
		},
		{
			name: "not an agent type",
			docs: []string{nsEnabled, labelled("solo", "kagenti.io/type: model")},
		},
		{
			name: "an AgentRuntime targets it",
			docs: []string{nsEnabled, strings.Replace(deploy, "{app: chat}}", "{app: chat, kagenti.io/type: agent}}", 1), chatRuntime},
		},
		{
			name:    "the platform requires an AgentRuntime",
			docs:    []string{nsEnabled, labelled("solo", "kagenti.io/type: agent")},
			require: true,
			wantErr: []string{`repo.yaml: Deployment team/solo: spec.template.metadata.labels.kagenti.io/type: kagenti.io/type=agent makes the pods an agent, but no AgentRuntime targets Deployment team/solo and the platform requires one (injection.requireAgentRuntime)`},
		},
		{
			name:    "Rossoctl's label on a Kagenti platform is refused rather than ignored",
			docs:    []string{nsEnabled, labelled("solo", "rossoctl.io/type: agent")},
			wantErr: []string{`repo.yaml: Deployment team/solo: spec.template.metadata.labels.rossoctl.io/type: rossoctl.io/type is a label of Rossoctl, which this platform does not read: add rossoctl to the Platform's families (now [kagenti])`},
		},
		{
			name:    "a repository's AgentRuntime cannot pass for a generated one",
			docs:    []string{nsEnabled, deploy, strings.Replace(chatRuntime, "metadata: {name: chat, namespace: team}", "metadata: {name: chat, namespace: team, annotations: {gitops.trustsync.dev/enrolment: label}}", 1)},
			wantErr: []string{`repo.yaml: AgentRuntime team/chat: metadata.annotations.gitops.trustsync.dev/enrolment: trustsync sets this on the AgentRuntimes it generates for label-only agents; remove it`},
		},
		{
			name: "two agents on one ServiceAccount",
			docs: []string{ns, deploy, chatRuntime,
				strings.Replace(labelled("solo", "kagenti.io/type: agent"), "containers:", "serviceAccountName: chat\n      containers:", 1)},
			wantErr: []string{`repo.yaml: Deployment team/solo: spec.template.spec.serviceAccountName: Deployment/solo runs as ServiceAccount team/chat, as does Deployment/chat of AgentRuntime chat`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := platformWith(func(p *gitopsv1.Platform) {
				p.Injection.RequireAgentRuntime = tc.require
				p.FeatureGates.InjectTools = true // so that the tool is injected too
			})
			res, err := expandBoth(t, objects(t, tc.docs...), p)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("expanded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error\n%v\nwant it to contain\n%s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := result{res, t}
			var got []string
			for _, a := range res.Agents {
				if a.LabelOnly {
					got = append(got, a.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.enrolled, ",") {
				t.Fatalf("label-only agents %v, want %v", got, tc.enrolled)
			}
			for _, name := range tc.enrolled {
				rt := r.must("AgentRuntime", "team", name)
				if rt.Source != "" || rt.GetAnnotations()[gitopsv1.AnnotationEnrolment] != gitopsv1.EnrolmentLabel {
					t.Errorf("AgentRuntime %s: source %q, annotations %v; want a generated one annotated %s: %s", name, rt.Source, rt.GetAnnotations(), gitopsv1.AnnotationEnrolment, gitopsv1.EnrolmentLabel)
				}
				if got := str(t, rt, "spec", "targetRef", "name"); got != name {
					t.Errorf("AgentRuntime %s targets %q", name, got)
				}
				// The namespace's defaults are written into it, as into any AgentRuntime.
				if got := str(t, rt, "spec", "mtlsMode"); got != string(agentv1.MTLSPermissive) {
					t.Errorf("AgentRuntime %s: mtlsMode %q, want the default permissive", name, got)
				}
				r.must("ConfigMap", "team", agentv1.ConfigMapAgentConfigPrefix+name)
				r.must("ServiceAccount", "team", name)
				w := r.must("Deployment", "team", name)
				if str(t, w, "spec", "template", "metadata", "annotations", agentv1.Kagenti.AnnotationConfigHash()) == "" {
					t.Errorf("Deployment %s has no config hash", name)
				}
			}
			for _, o := range res.Objects {
				if o.GetKind() == "AgentRuntime" && o.Source == "" && !contains(tc.enrolled, o.GetName()) {
					t.Errorf("AgentRuntime %s generated", o.GetName())
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
