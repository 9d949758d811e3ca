package secureprofile

import (
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// rossoctl rewrites a Kagenti document into Rossoctl's names.
func rossoctl(doc string) string {
	return strings.NewReplacer("agent.kagenti.dev", "agent.rossoctl.dev", "kagenti.io/", "rossoctl.io/", "kagenti-enabled", "rossoctl-enabled").Replace(doc)
}

func families(names ...string) *gitopsv1.Platform {
	return platformWith(func(p *gitopsv1.Platform) { p.Families = names })
}

// TestFamilyErrors: an object or label of a family the platform does not read, a pod
// labelled in both families and a workload labelled in another family than its
// AgentRuntime's are errors naming the file, object and field and what to change.
func TestFamilyErrors(t *testing.T) {
	tests := []struct {
		name    string
		p       *gitopsv1.Platform
		docs    []string
		wantErr []string
	}{
		{
			name:    "a Rossoctl AuthorizationPolicy on a Kagenti platform",
			p:       families("kagenti"),
			docs:    []string{rossoctl(nsPolicy)},
			wantErr: []string{`repo.yaml: AuthorizationPolicy team/team: apiVersion: agent.rossoctl.dev is the API group of Rossoctl, which this platform does not read: add rossoctl to the Platform's families (now [kagenti])`},
		},
		{
			name:    "a Kagenti AgentRuntime on a Rossoctl platform",
			p:       families("rossoctl"),
			docs:    []string{ns, deploy, chatRuntime},
			wantErr: []string{`repo.yaml: AgentRuntime team/chat: apiVersion: agent.kagenti.dev is the API group of Kagenti, which this platform does not read: add kagenti to the Platform's families (now [rossoctl])`},
		},
		{
			name:    "a Rossoctl namespace label on a Kagenti platform",
			p:       families("kagenti"),
			docs:    []string{rossoctl(nsEnabled)},
			wantErr: []string{`repo.yaml: Namespace team: metadata.labels.rossoctl-enabled: rossoctl-enabled is a label of Rossoctl, which this platform does not read`},
		},
		{
			name:    "a Rossoctl protocol label on a Kagenti platform",
			p:       families("kagenti"),
			docs:    []string{strings.Replace(deploy, "metadata: {name: chat, namespace: team}", "metadata: {name: chat, namespace: team, labels: {protocol.rossoctl.io/a2a: \"\"}}", 1)},
			wantErr: []string{`repo.yaml: Deployment team/chat: metadata.labels.protocol.rossoctl.io/a2a: protocol.rossoctl.io/a2a is a label of Rossoctl`},
		},
		{
			name:    "a Kagenti pod annotation on a Rossoctl platform",
			p:       families("rossoctl"),
			docs:    []string{strings.Replace(deploy, "metadata: {labels: {app: chat}}", "metadata: {labels: {app: chat}, annotations: {kagenti.io/authbridge-mode: lite}}", 1)},
			wantErr: []string{`repo.yaml: Deployment team/chat: spec.template.metadata.annotations.kagenti.io/authbridge-mode: kagenti.io/authbridge-mode is an annotation of Kagenti, which this platform does not read: add kagenti to the Platform's families (now [rossoctl])`},
		},
		{
			name:    "pods labelled in both families",
			p:       families("kagenti", "rossoctl"),
			docs:    []string{nsEnabled, labelled("solo", "kagenti.io/type: agent, rossoctl.io/type: agent")},
			wantErr: []string{`repo.yaml: Deployment team/solo: spec.template.metadata.labels.rossoctl.io/type: the pods are labelled both kagenti.io/type and rossoctl.io/type: one family's labels per workload`},
		},
		{
			name:    "a Rossoctl AgentRuntime targeting Kagenti-labelled pods",
			p:       families("kagenti", "rossoctl"),
			docs:    []string{ns, strings.Replace(deploy, "labels: {app: chat}", "labels: {app: chat, kagenti.io/type: agent}", 1), rossoctl(chatRuntime)},
			wantErr: []string{`repo.yaml: Deployment team/chat: spec.template.metadata.labels.kagenti.io/type: kagenti.io/type is Kagenti's label, but AgentRuntime chat targeting Deployment team/chat is of Rossoctl (agent.rossoctl.dev): label the pods rossoctl.io/type, or write the AgentRuntime in agent.kagenti.dev/v1alpha1`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := expandBoth(t, objects(t, tc.docs...), tc.p)
			if err == nil {
				t.Fatal("expanded, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

// TestRossoctlRepository: a Rossoctl repository renders as its Kagenti twin, in
// Rossoctl's names throughout: nothing of the output says kagenti.
func TestRossoctlRepository(t *testing.T) {
	p := families("rossoctl")
	p.Namespace = agentv1.Rossoctl.Namespace
	p.FeatureGates.InjectTools = true
	docs := []string{ns, deploy, rossoctl(chatRuntime), rossoctl(nsPolicy), rossoctl(nsEnabled), labelled("solo", "rossoctl.io/type: tool")}
	docs[0] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}" // nsEnabled is team
	res, err := expandBoth(t, objects(t, docs...), p)
	if err != nil {
		t.Fatal(err)
	}
	r := result{res, t}
	f := agentv1.Rossoctl
	w := r.must("Deployment", "team", "chat")
	if w.GetLabels()[f.LabelType()] != "agent" || str(t, w, "spec", "template", "metadata", "labels", f.LabelType()) != "agent" {
		t.Errorf("chat is not labelled %s", f.LabelType())
	}
	if str(t, w, "spec", "template", "metadata", "annotations", f.AnnotationConfigHash()) == "" || str(t, w, "spec", "template", "metadata", "annotations", f.AnnotationMTLSMode()) == "" {
		t.Errorf("chat's pods lack Rossoctl's annotations: %v", w.Object["spec"])
	}
	if got := str(t, w, "spec", "template", "metadata", "annotations", f.AnnotationClientCredentialsSecret()); !strings.HasPrefix(got, "rossoctl-keycloak-client-credentials-") {
		t.Errorf("credentials Secret %q", got)
	}
	if r.must("Namespace", "", "team").GetLabels()[f.LabelEnabledNamespace()] != "true" {
		t.Error("team is not rossoctl-enabled")
	}
	r.must("ConfigMap", p.Namespace, f.ConfigMapFeatureGates())
	r.mustNot("ConfigMap", p.Namespace, agentv1.Kagenti.ConfigMapFeatureGates())
	if def := r.must("AuthorizationPolicy", p.Namespace, "default"); def.GetAPIVersion() != f.APIVersion() {
		t.Errorf("default global policy in %s", def.GetAPIVersion())
	}
	// The label-only tool's generated AgentRuntime is Rossoctl's.
	if rt := r.must("AgentRuntime", "team", "solo"); rt.GetAPIVersion() != f.APIVersion() || rt.Source != "" {
		t.Errorf("label-only AgentRuntime %s from %q", rt.GetAPIVersion(), rt.Source)
	}
	for _, o := range res.Objects {
		if strings.Contains(o.GetAPIVersion(), "kagenti") {
			t.Errorf("%s is of %s", o.Ref(), o.GetAPIVersion())
		}
		forEachKey(o, func(key string) {
			if strings.Contains(key, "kagenti") {
				t.Errorf("%s carries %s", o.Ref(), key)
			}
		})
	}
}

// TestBothFamilies: with both families read, each agent is written in its own family's
// names, and a namespace enabled for one family does not enrol the other's pods.
func TestBothFamilies(t *testing.T) {
	p := families("kagenti", "rossoctl")
	docs := []string{nsEnabled, deploy, chatRuntime, labelled("solo", "rossoctl.io/type: agent"),
		strings.Replace(rossoctl(deploy), "chat", "other", -1), strings.Replace(rossoctl(chatRuntime), "chat", "other", -1)}
	res, err := expandBoth(t, objects(t, docs...), p)
	if err != nil {
		t.Fatal(err)
	}
	r := result{res, t}
	if r.must("Deployment", "team", "chat").GetLabels()[agentv1.Kagenti.LabelType()] != "agent" {
		t.Error("the Kagenti agent is not labelled kagenti.io/type")
	}
	if r.must("Deployment", "team", "other").GetLabels()[agentv1.Rossoctl.LabelType()] != "agent" {
		t.Error("the Rossoctl agent is not labelled rossoctl.io/type")
	}
	nsLabels := r.must("Namespace", "", "team").GetLabels()
	if nsLabels["kagenti-enabled"] != "true" || nsLabels["rossoctl-enabled"] != "true" {
		t.Errorf("team's labels %v, want both families enabled", nsLabels)
	}
	r.must("ConfigMap", p.Namespace, "kagenti-feature-gates")
	r.must("ConfigMap", p.Namespace, "rossoctl-feature-gates")
	// solo is labelled rossoctl.io/type: enrolled, since an agent of Rossoctl enables team.
	r.must("AgentRuntime", "team", "solo")

	// Without the Rossoctl agent, team is enabled for Kagenti only: solo is left alone.
	res, err = expandBoth(t, objects(t, docs[:4]...), p)
	if err != nil {
		t.Fatal(err)
	}
	result{res, t}.mustNot("AgentRuntime", "team", "solo")
}

func forEachKey(o *manifest.Object, fn func(string)) {
	for k := range o.GetLabels() {
		fn(k)
	}
	for k := range o.GetAnnotations() {
		fn(k)
	}
	for _, path := range [][]string{{"spec", "template", "metadata"}, {"spec", "podTemplate", "metadata"}} {
		m, _ := nestedMap(o.Object, path...)
		for _, field := range []string{"labels", "annotations"} {
			kv, _ := m[field].(map[string]any)
			for k := range kv {
				fn(k)
			}
		}
	}
}

func nestedMap(obj map[string]any, path ...string) (map[string]any, bool) {
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}
