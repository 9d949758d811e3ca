package objcache

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

// keptSpec are the spec fields other than scalars that health assessment reads (kstatus:
// a StatefulSet's update strategy and partition).
var keptSpec = map[string]bool{"updateStrategy": true}

// Trim returns the cache's transform: of an object it keeps what the engine reads from
// the cache, and drops the rest, which is most of its size:
//   - apiVersion, kind, metadata and status;
//   - of spec, the scalars and keptSpec (health reads spec.replicas, spec.type, …);
//   - of managedFields, the manager's entries, and of the others only those on the main
//     resource at least as recent as the manager's last apply (the writes since then,
//     which a restarted engine must weigh; the rest are history it never reads), each
//     fieldsV1 held as its JSON text (see FieldsText), a fraction of its size as maps;
//   - no last-applied-configuration annotation.
//
// Drift is found in the managedFields; what a drifted or unrecorded object holds is read
// from the API server, uncached (package apply). Typed objects keep everything but the
// managedFields dropped.
func Trim(manager string) cache.TransformFunc {
	return func(obj any) (any, error) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			trimObject(u.Object, manager)
			return u, nil
		}
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(keptEntries(m.GetManagedFields(), manager))
			dropLastApplied(m)
		}
		return obj, nil
	}
}

func trimObject(o map[string]any, manager string) {
	for k, v := range o {
		switch k {
		case "apiVersion", "kind", "status":
		case "metadata":
			if md, ok := v.(map[string]any); ok {
				trimMetadata(md, manager)
			}
		case "spec":
			spec, ok := v.(map[string]any)
			if !ok {
				delete(o, k)
				continue
			}
			for f, fv := range spec {
				switch fv.(type) {
				case map[string]any, []any:
					if !keptSpec[f] {
						delete(spec, f)
					}
				}
			}
		default:
			delete(o, k) // data, rules, webhooks, …
		}
	}
}

func trimMetadata(md map[string]any, manager string) {
	if a, ok := md["annotations"].(map[string]any); ok {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
	}
	list, ok := md["managedFields"].([]any)
	if !ok {
		return
	}
	// Read in place: converting the entries to typed ones and back would allocate them
	// twice for every object the cache holds.
	var applied time.Time
	for _, item := range list {
		if e, ok := item.(map[string]any); ok && applyOf(e, manager) {
			applied = entryTime(e)
		}
	}
	kept := list[:0]
	for _, item := range list {
		e, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if keep(e["manager"] == manager, MainResource(e), entryTime(e), applied) {
			if f, ok := e["fieldsV1"].(map[string]any); ok {
				e["fieldsV1"] = fieldsText(f)
			}
			kept = append(kept, e)
		}
	}
	clear(list[len(kept):])
	if len(kept) == 0 {
		delete(md, "managedFields")
		return
	}
	md["managedFields"] = kept
}

// Entries are an unstructured object's managedFields entries, read in place.
func Entries(obj map[string]any) []map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	items, _ := md["managedFields"].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, item := range items {
		if e, ok := item.(map[string]any); ok {
			out = append(out, e)
		}
	}
	return out
}

// OwnedText is the fieldsV1 of the manager's apply entry on the object's main resource,
// as FieldsText; "" when there is none.
func OwnedText(obj map[string]any, manager string) string {
	for _, e := range Entries(obj) {
		if applyOf(e, manager) {
			return FieldsText(e)
		}
	}
	return ""
}

// FieldsText is an entry's fieldsV1 as JSON text, its keys sorted, alike whether the
// entry came from this cache (which holds the text) or from the API server (maps): two
// entries own the same fields when their texts are equal. "" when it has none.
func FieldsText(e map[string]any) string {
	switch f := e["fieldsV1"].(type) {
	case string:
		return f
	case map[string]any:
		return fieldsText(f)
	}
	return ""
}

func fieldsText(f map[string]any) string {
	data, err := json.Marshal(f)
	if err != nil {
		return "" // decoded JSON always encodes
	}
	return string(data)
}

// applyOf reports whether e is the manager's apply entry on the main resource.
func applyOf(e map[string]any, manager string) bool {
	return e["manager"] == manager && e["operation"] == string(metav1.ManagedFieldsOperationApply) && MainResource(e)
}

// MainResource reports whether a managedFields entry is of the main resource, not a
// subresource such as status.
func MainResource(e map[string]any) bool {
	sub, _ := e["subresource"].(string)
	return sub == ""
}

// entryTime is an entry's time; zero when it has none or it does not parse.
func entryTime(e map[string]any) time.Time {
	s, _ := e["time"].(string)
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// keep is the rule for one entry: the manager's, or one on the main resource written at
// or after the manager's last apply (applied; zero when it has none). An entry without a
// time is kept.
func keep(managers, main bool, t, applied time.Time) bool {
	return managers || main && (applied.IsZero() || t.IsZero() || !t.Before(applied))
}

// keptEntries is trimMetadata's rule for typed entries.
func keptEntries(entries []metav1.ManagedFieldsEntry, manager string) []metav1.ManagedFieldsEntry {
	timeOf := func(t *metav1.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.Time
	}
	var applied time.Time
	for _, e := range entries {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			applied = timeOf(e.Time)
		}
	}
	var kept []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if keep(e.Manager == manager, e.Subresource == "", timeOf(e.Time), applied) {
			kept = append(kept, e)
		}
	}
	return kept
}

func dropLastApplied(m metav1.Object) {
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
			m.SetAnnotations(a)
		}
	}
}
