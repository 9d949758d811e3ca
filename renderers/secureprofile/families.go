package secureprofile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// checkFamilies refuses every object, label and annotation of a family the platform does
// not read (families). Unread, they would be worse than an error: an AuthorizationPolicy
// in no bundle, an AgentRuntime nothing configures, pods that run as no agent.
func (e *expansion) checkFamilies() {
	var off []agentv1.Family
	for _, f := range agentv1.Families {
		if !e.p.FamilyEnabled(f) {
			off = append(off, f)
		}
	}
	if len(off) == 0 {
		return
	}
	fix := func(f agentv1.Family) string {
		return fmt.Sprintf("add %s to the Platform's families (now [%s])", f.Name, strings.Join(e.p.Families, ", "))
	}
	for _, o := range e.objs {
		if o.Source == "" {
			continue
		}
		gvk := o.GroupVersionKind()
		if f, ok := agentv1.FamilyOf(gvk.Group); ok && slices.Contains(off, f) {
			e.fail(manifest.Errorf(o, "apiVersion", "%s is the API group of %s, which this platform does not read: %s", gvk.Group, f.Title, fix(f)))
			continue
		}
		check := func(path []string, keys map[string]string, what string) {
			for _, key := range slices.Sorted(maps.Keys(keys)) {
				if f, ok := familyOfKey(key, off); ok {
					e.fail(manifest.Errorf(o, strings.Join(append(slices.Clone(path), key), "."), "%s is %s %s of %s, which this platform does not read: %s", key, articleOf(what), what, f.Title, fix(f)))
				}
			}
		}
		check([]string{"metadata", "labels"}, o.GetLabels(), "label")
		check([]string{"metadata", "annotations"}, o.GetAnnotations(), "annotation")
		if kind, ok := kindOf(gvk.Group, gvk.Kind); ok {
			w := &workload{obj: o, kind: kind}
			check(w.path("metadata", "labels"), w.templateLabels(), "label")
			check(w.path("metadata", "annotations"), w.templateAnnotations(), "annotation")
		}
	}
}

// familyOfKey is the family among fams that a label or annotation key belongs to:
// <domain>/*, protocol.<domain>/*, <group>/* or <name>-enabled.
func familyOfKey(key string, fams []agentv1.Family) (agentv1.Family, bool) {
	for _, f := range fams {
		if key == f.LabelEnabledNamespace() || strings.HasPrefix(key, f.Domain+"/") ||
			strings.HasPrefix(key, f.LabelProtocolPrefix()) || strings.HasPrefix(key, f.Group+"/") {
			return f, true
		}
	}
	return agentv1.Family{}, false
}

func articleOf(what string) string {
	if strings.HasPrefix(what, "a") {
		return "an"
	}
	return "a"
}
