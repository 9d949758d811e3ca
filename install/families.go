package install

import (
	"fmt"
	"slices"
	"strings"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// ParseFamilies reads --families: family names, comma-separated.
func ParseFamilies(s string) ([]agentv1.Family, error) {
	var out []agentv1.Family
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		f, ok := agentv1.FamilyByName(name)
		if !ok {
			return nil, fmt.Errorf("%q is not a family; families are %s", name, strings.Join(agentv1.FamilyNames(), ", "))
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%q is listed twice", name)
		}
		out = append(out, f)
	}
	return out, nil
}

// forFamilies fits an object of config/, written for Kagenti, to the families installed:
// a family's CRD is kept only when it is installed; the webhook's pod injection is one
// entry per family, with that family's selectors (kagenti-enabled, rossoctl.io/type…);
// the validation rules and RBAC name every installed family's group. It reports whether
// obj is installed.
func forFamilies(obj *unstructured.Unstructured, families []agentv1.Family) (bool, error) {
	k := agentv1.Kagenti
	groups := make([]any, len(families))
	for i, f := range families {
		groups[i] = f.Group
	}
	switch {
	case IsCRD(obj):
		group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
		if f, ok := agentv1.FamilyOf(group); ok {
			return slices.Contains(families, f), nil
		}
	case obj.GetKind() == "MutatingWebhookConfiguration":
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		var out []any
		for _, h := range hooks {
			m, _ := h.(map[string]any)
			if m["name"] != "inject."+k.Domain {
				out = append(out, h)
				continue
			}
			for _, f := range families {
				out = append(out, renameHook(m, f))
			}
		}
		return true, unstructured.SetNestedSlice(obj.Object, out, "webhooks")
	case obj.GetKind() == "ValidatingWebhookConfiguration":
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		for _, h := range hooks {
			m, _ := h.(map[string]any)
			rules, _ := m["rules"].([]any)
			setGroups(rules, groups)
		}
		return true, unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
	case obj.GetKind() == "ClusterRole", obj.GetKind() == "Role":
		rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
		setGroups(rules, groups)
		return true, unstructured.SetNestedSlice(obj.Object, rules, "rules")
	}
	return true, nil
}

// setGroups makes every rule that names Kagenti's group name the installed families'.
func setGroups(rules []any, groups []any) {
	for _, r := range rules {
		m, _ := r.(map[string]any)
		gs, _ := m["apiGroups"].([]any)
		if slices.Contains(gs, any(agentv1.Kagenti.Group)) {
			m["apiGroups"] = slices.Clone(groups)
		}
	}
}

// renameHook is Kagenti's pod-injection webhook entry in the family's names.
func renameHook(hook map[string]any, f agentv1.Family) map[string]any {
	k := agentv1.Kagenti
	r := strings.NewReplacer(k.LabelEnabledNamespace(), f.LabelEnabledNamespace(), k.Domain+"/", f.Domain+"/", "inject."+k.Domain, "inject."+f.Domain)
	return renameStrings(hook, r).(map[string]any)
}

func renameStrings(v any, r *strings.Replacer) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = renameStrings(x, r)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = renameStrings(x, r)
		}
		return out
	case string:
		return r.Replace(t)
	}
	return v
}

// setPlatformFamilies writes the families into the installed platform file.
func setPlatformFamilies(tree fstest.MapFS, families []agentv1.Family) error {
	const path = "manager/platform.yaml"
	f, ok := tree[path]
	if !ok {
		return fmt.Errorf("config/%s is missing", path)
	}
	names := make([]string, len(families))
	for i, fam := range families {
		names[i] = fam.Name
	}
	data := string(f.Data)
	if strings.Contains(data, "\nfamilies:") {
		return fmt.Errorf("config/%s already sets families", path)
	}
	if !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	data += "# trustsync install --families\nfamilies: [" + strings.Join(names, ", ") + "]\n"
	tree[path] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	return nil
}
