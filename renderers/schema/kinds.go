package schema

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trustsync/trustsync/manifest"
)

// platformKind is trustsync's configuration file, which has an apiVersion and kind of
// trustsync's group but is no object of the cluster.
const platformKind = "Platform"

// resolve finds the CRD kind and version of an object of a group trustsync owns. It
// returns nil and no error for other groups, and an error naming the apiVersion or kind
// field for a kind or version its CRDs do not serve: such an object would otherwise pass
// the render as an unknown custom kind and fail at apply, or never act.
func (r *registry) resolve(o *manifest.Object) (*crdKind, *crdVersion, error) {
	gvk := o.GroupVersionKind()
	kinds, owned := r.groups[gvk.Group]
	if !owned {
		if g, kind := r.nearGroup(gvk.Group, gvk.Kind); g != "" {
			return nil, nil, manifest.Errorf(o, "apiVersion", "%q is not an API group; did you mean %s/%s %s?", gvk.Group, g, r.kinds[schema.GroupKind{Group: g, Kind: kind}].served[0], kind)
		}
		return nil, nil, nil
	}
	if gvk.Group == gitopsGroup && gvk.Kind == platformKind {
		return nil, nil, manifest.Errorf(o, "kind", "the Platform is trustsync's configuration file, not an object of the cluster; pass it with --platform instead of keeping it in the rendered tree")
	}
	k := r.kinds[gvk.GroupKind()]
	if k == nil {
		msg := fmt.Sprintf("%q is not a kind of %s (%s)", gvk.Kind, gvk.Group, strings.Join(kinds, ", "))
		if near := nearest(gvk.Kind, kinds); near != "" {
			msg += "; did you mean " + near + "?"
		}
		return nil, nil, manifest.Errorf(o, "kind", "%s", msg)
	}
	v := k.versions[gvk.Version]
	if v == nil || !v.served {
		return nil, nil, manifest.Errorf(o, "apiVersion", "%s is not a served version of %s; use %s/%s", o.GetAPIVersion(), k.kind, gvk.Group, strings.Join(k.served, " or "+gvk.Group+"/"))
	}
	return k, v, nil
}

// nearGroup finds an owned group the given one is a near miss of, for an object whose
// kind is (nearly) one of that group's: agent.kagenti.io AgentRuntime. Both must be
// close, so that other projects' kinds are left alone.
func (r *registry) nearGroup(group, kind string) (string, string) {
	if group == "" {
		return "", ""
	}
	for g, kinds := range r.groups {
		if distance(strings.ToLower(group), g) > 3 {
			continue
		}
		if k := nearest(kind, kinds); k != "" {
			return g, k
		}
	}
	return "", ""
}

// nearest is the candidate closest to s, ignoring case, if it is close enough to be a
// typo of it.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3 // at most two edits
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of two strings, by bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
