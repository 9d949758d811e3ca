package install

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// TestManifestsFamilies: the families chosen decide the CRDs, the webhook's pod
// selectors, the validation and RBAC groups and the platform file's families.
func TestManifestsFamilies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		families []agentv1.Family
		crds     []string // of the agent groups
		hooks    []string // pod injection entries
		groups   []any
		platform string // in the platform file; "" for none
	}{
		{"default", nil, []string{"agentcards.agent.kagenti.dev", "agentruntimes.agent.kagenti.dev", "authorizationpolicies.agent.kagenti.dev"},
			[]string{"inject.kagenti.io"}, []any{"agent.kagenti.dev"}, ""},
		{"rossoctl", []agentv1.Family{agentv1.Rossoctl}, []string{"agentcards.agent.rossoctl.dev", "agentruntimes.agent.rossoctl.dev", "authorizationpolicies.agent.rossoctl.dev"},
			[]string{"inject.rossoctl.io"}, []any{"agent.rossoctl.dev"}, "families: [rossoctl]"},
		{"both", []agentv1.Family{agentv1.Kagenti, agentv1.Rossoctl}, []string{"agentcards.agent.kagenti.dev", "agentcards.agent.rossoctl.dev", "agentruntimes.agent.kagenti.dev", "agentruntimes.agent.rossoctl.dev", "authorizationpolicies.agent.kagenti.dev", "authorizationpolicies.agent.rossoctl.dev"},
			[]string{"inject.kagenti.io", "inject.rossoctl.io"}, []any{"agent.kagenti.dev", "agent.rossoctl.dev"}, "families: [kagenti, rossoctl]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Manifests(Options{Families: tc.families, BundleServer: true})
			if err != nil {
				t.Fatal(err)
			}
			var crds []string
			for _, n := range CRDNames(objs) {
				if strings.Contains(n, ".agent.") {
					crds = append(crds, n)
				}
			}
			if !slices.Equal(crds, tc.crds) {
				t.Errorf("CRDs %v, want %v", crds, tc.crds)
			}
			for _, o := range objs {
				switch o.GetKind() {
				case "MutatingWebhookConfiguration":
					hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
					var names []string
					for _, h := range hooks {
						m := h.(map[string]any)
						names = append(names, m["name"].(string))
						f, _ := agentv1.FamilyByName(strings.TrimSuffix(strings.TrimPrefix(m["name"].(string), "inject."), ".io"))
						sel := strings.Join(selectorKeys(m), ",")
						if !strings.Contains(sel, f.LabelEnabledNamespace()) || !strings.Contains(sel, f.LabelType()) || !strings.Contains(sel, f.LabelInject()) {
							t.Errorf("%s selects on %s, want %s's labels", m["name"], sel, f.Title)
						}
					}
					if !slices.Equal(names, tc.hooks) {
						t.Errorf("pod injection entries %v, want %v", names, tc.hooks)
					}
				case "ValidatingWebhookConfiguration":
					hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
					for _, h := range hooks {
						rules := h.(map[string]any)["rules"].([]any)
						if g := rules[0].(map[string]any)["apiGroups"]; !slices.Equal(g.([]any), tc.groups) {
							t.Errorf("%s validates %v, want %v", h.(map[string]any)["name"], g, tc.groups)
						}
					}
				case "ConfigMap":
					data, _, _ := unstructured.NestedString(o.Object, "data", "platform.yaml")
					if data == "" {
						continue
					}
					if has := strings.Contains(data, "\nfamilies:"); has != (tc.platform != "") || !strings.Contains(data, tc.platform) {
						t.Errorf("platform file without %q:\n%s", tc.platform, data)
					}
				case "ClusterRole":
					if o.GetName() != "trustsync-bundle-server" {
						continue
					}
					rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
					if g := rules[0].(map[string]any)["apiGroups"]; !slices.Equal(g.([]any), tc.groups) {
						t.Errorf("bundle server reads %v, want %v", g, tc.groups)
					}
				}
			}
		})
	}
}

func selectorKeys(hook map[string]any) []string {
	var keys []string
	for _, sel := range []string{"namespaceSelector", "objectSelector"} {
		m, _ := hook[sel].(map[string]any)
		exprs, _ := m["matchExpressions"].([]any)
		for _, e := range exprs {
			keys = append(keys, e.(map[string]any)["key"].(string))
		}
	}
	return keys
}

func TestParseFamilies(t *testing.T) {
	if got, err := ParseFamilies("kagenti, rossoctl"); err != nil || !slices.Equal(got, []agentv1.Family{agentv1.Kagenti, agentv1.Rossoctl}) {
		t.Errorf("got %v, %v", got, err)
	}
	for in, want := range map[string]string{"kagenti,kagenti": `"kagenti" is listed twice`, "kagent": `"kagent" is not a family; families are kagenti, rossoctl`, "": `"" is not a family`} {
		if _, err := ParseFamilies(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFamilies(%q) = %v, want %q", in, err, want)
		}
	}
}
