package diff

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Action is what happens to an object.
type Action string

const (
	Added   Action = "added"
	Removed Action = "removed"
	Changed Action = "changed"
)

// Change is one object that differs between the revisions.
type Change struct {
	Action     Action `json:"action"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Source is the file the object comes from (the base's for a removed object); empty
	// for objects trustsync generates.
	Source string `json:"source,omitempty"`
	// Fields are the differences of a changed object, in path order.
	Fields []FieldChange `json:"fields,omitempty"`
	// Followed are generated hash fields that changed along with what they hash. They are
	// not in Fields: their inputs (a ConfigMap, an AgentRuntime) are reported on their
	// own. Their change means the object's pods roll.
	Followed []string `json:"followed,omitempty"`
}

// Ref identifies the changed object.
func (c Change) Ref() manifest.Ref {
	group, _, _ := strings.Cut(c.APIVersion, "/")
	if !strings.Contains(c.APIVersion, "/") {
		group = ""
	}
	return manifest.Ref{Group: group, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
}

// FieldChange is one field that differs. Old is absent (nil) for a field the head adds,
// New for one it removes. Both are normalised JSON values: whole numbers are int64,
// empty maps and lists are absent.
type FieldChange struct {
	// Path names the field: spec.template.spec.containers[name=agent].image; map keys
	// that are not plain words in brackets (metadata.annotations[kagenti.io/mtls-mode]),
	// items of keyed lists by their merge key, items of other lists by index.
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
	// Added is set for a field the head adds, Removed for one it drops.
	Added   bool `json:"added,omitempty"`
	Removed bool `json:"removed,omitempty"`
	// Redacted is set for Secret values: Old and New are left out; Added and Removed
	// still tell what happened to the field.
	Redacted bool `json:"redacted,omitempty"`
}

// Result is the difference of two revisions.
type Result struct {
	// Changes in apply order (manifest.Sort) of the object they are about.
	Changes []Change `json:"changes"`
	// FollowedOnly are changed objects whose only difference is generated hashes
	// (Change.Followed). They are not changes of their own and not counted; they are
	// kept so a reviewer can see which pods roll.
	FollowedOnly []Change `json:"followedOnly,omitempty"`
}

// Empty reports whether the revisions do not differ.
func (r Result) Empty() bool { return len(r.Changes) == 0 }

// Count returns how many objects are added, removed and changed.
func (r Result) Count() (added, removed, changed int) {
	for _, c := range r.Changes {
		switch c.Action {
		case Added:
			added++
		case Removed:
			removed++
		case Changed:
			changed++
		}
	}
	return added, removed, changed
}

// Summary is one line: "3 objects changed: 1 added, 0 removed, 2 changed".
func (r Result) Summary() string {
	a, d, c := r.Count()
	noun := "objects"
	if len(r.Changes) == 1 {
		noun = "object"
	}
	return fmt.Sprintf("%d %s changed: %d added, %d removed, %d changed", len(r.Changes), noun, a, d, c)
}

// Objects compares the objects of two rendered revisions (renderers.Result.Objects).
// Objects are matched by group, kind, namespace and name.
func Objects(base, head []*manifest.Object) Result {
	b, h := manifest.NewIndex(base), manifest.NewIndex(head)
	var items []item
	for ref, ho := range h {
		bo, ok := b[ref]
		if !ok {
			items = append(items, item{newChange(Added, ho), ho})
			continue
		}
		if c, differs := compare(bo, ho); differs {
			items = append(items, item{c, ho})
		}
	}
	for ref, bo := range b {
		if _, ok := h[ref]; !ok {
			items = append(items, item{newChange(Removed, bo), bo})
		}
	}
	return collect(items)
}

// item is a change with the object that orders it.
type item struct {
	change Change
	obj    *manifest.Object
}

func collect(items []item) Result {
	slices.SortFunc(items, func(a, b item) int {
		if c := manifest.Compare(a.obj, b.obj); c != 0 {
			return c
		}
		return strings.Compare(a.obj.Ref().ID(), b.obj.Ref().ID())
	})
	r := Result{Changes: []Change{}}
	for _, it := range items {
		if it.change.Action == Changed && len(it.change.Fields) == 0 {
			r.FollowedOnly = append(r.FollowedOnly, it.change)
			continue
		}
		r.Changes = append(r.Changes, it.change)
	}
	return r
}

func newChange(a Action, o *manifest.Object) Change {
	return Change{Action: a, APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Source: o.Source}
}

// compare diffs two versions of one object; differs is false when nothing, not even a
// followed hash, changed.
func compare(old, new *manifest.Object) (Change, bool) {
	fields, followed := Fields(old.Unstructured, new.Unstructured)
	c := newChange(Changed, new)
	c.Fields, c.Followed = fields, followed
	return c, len(fields) > 0 || len(followed) > 0
}

// Fields diffs two versions of one object: the changed fields, and the generated hash
// fields that changed (left out of the fields). Server-owned metadata (managedFields,
// resourceVersion, generation, uid, creationTimestamp, ...) and status are ignored.
func Fields(old, new *unstructured.Unstructured) (fields []FieldChange, followed []string) {
	w := &walker{secret: old.GroupVersionKind().GroupKind() == secretKind || new.GroupVersionKind().GroupKind() == secretKind}
	w.walk("", topLevel(old.Object), topLevel(new.Object), true)
	slices.SortStableFunc(w.fields, func(a, b FieldChange) int { return strings.Compare(a.Path, b.Path) })
	return w.fields, w.followed
}

// serverFields are set by the API server and say nothing about what Git changed.
var serverFields = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

func topLevel(obj map[string]any) any {
	n, _ := normalize(obj).(map[string]any)
	if n == nil {
		return nil
	}
	delete(n, "status")
	if meta, ok := n["metadata"].(map[string]any); ok {
		for _, f := range serverFields {
			delete(meta, f)
		}
	}
	return n
}

// normalize returns a copy of a JSON value in one canonical form: whole numbers as
// int64, other numbers as float64, and no nulls, empty maps or empty lists as map values
// (Kubernetes treats them as absent).
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if n := normalize(e); !isEmpty(n) {
				out[k] = n
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case int:
		return int64(t)
	case int32:
		return int64(t)
	case int64:
		return t
	case float32:
		return number(float64(t))
	case float64:
		return number(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return number(f)
		}
		return t.String()
	}
	return v
}

func number(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

var secretKind = manifest.Ref{Kind: "Secret"}.GroupKind()

// hashAnnotations are annotations trustsync computes from other inputs, in every family.
var hashAnnotations = func() []string {
	var out []string
	for _, f := range agentv1.Families {
		out = append(out, f.AnnotationConfigHash())
	}
	return out
}()

// lastApplied copies a whole object, a Secret's data included, into an annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// mergeKeys identify the items of keyed lists, in order of preference: a list is keyed
// by the first one every item of both versions has, as a unique scalar. name covers
// containers, env, volumes, volumeMounts and named ports; containerPort and port the
// unnamed ports; path the files of an AuthorizationPolicy.
var mergeKeys = []string{"name", "containerPort", "port", "mountPath", "path"}

type walker struct {
	secret   bool
	fields   []FieldChange
	followed []string
}

// walk compares two normalised values at path p. Maps are compared key by key; with
// descend, also when one side is absent, so each key added or removed is its own change.
func (w *walker) walk(p string, old, new any, descend bool) {
	if old == nil && new == nil {
		return
	}
	om, oldMap := old.(map[string]any)
	nm, newMap := new.(map[string]any)
	if (oldMap || old == nil) && (newMap || new == nil) && (descend || (oldMap && newMap)) {
		keys := make([]string, 0, len(om)+len(nm))
		for k := range om {
			keys = append(keys, k)
		}
		for k := range nm {
			if _, ok := om[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.walk(join(p, k), om[k], nm[k], true)
		}
		return
	}
	if ol, ok := old.([]any); ok {
		if nl, ok := new.([]any); ok {
			w.list(p, ol, nl)
			return
		}
	}
	if !reflect.DeepEqual(old, new) {
		w.record(p, old, new)
	}
}

// list compares keyed lists by key, whatever their order; lists of scalars as a whole;
// other lists item by item.
func (w *walker) list(p string, old, new []any) {
	if key := listKey(old, new); key != "" {
		oi, ni := index(old, key), index(new, key)
		var order []string
		for _, e := range new {
			order = append(order, keyOf(e, key))
		}
		for _, e := range old {
			if _, ok := ni[keyOf(e, key)]; !ok {
				order = append(order, keyOf(e, key))
			}
		}
		for _, k := range order {
			w.walk(fmt.Sprintf("%s[%s=%s]", p, key, k), oi[k], ni[k], false)
		}
		return
	}
	if scalars(old) || scalars(new) {
		if !reflect.DeepEqual(old, new) {
			w.record(p, old, new)
		}
		return
	}
	for i := range max(len(old), len(new)) {
		var o, n any
		if i < len(old) {
			o = old[i]
		}
		if i < len(new) {
			n = new[i]
		}
		w.walk(fmt.Sprintf("%s[%d]", p, i), o, n, false)
	}
}

func (w *walker) record(p string, old, new any) {
	for _, a := range hashAnnotations {
		if strings.HasSuffix(p, "metadata.annotations["+a+"]") {
			w.followed = append(w.followed, p)
			return
		}
	}
	if w.secret && secretValue(p) {
		w.fields = append(w.fields, FieldChange{Path: p, Redacted: true, Added: old == nil, Removed: new == nil})
		return
	}
	w.fields = append(w.fields, FieldChange{Path: p, Old: old, New: new, Added: old == nil, Removed: new == nil})
}

// secretValue reports whether p holds (or copies) a Secret's values.
func secretValue(p string) bool {
	for _, root := range []string{"data", "stringData"} {
		if p == root || strings.HasPrefix(p, root+".") || strings.HasPrefix(p, root+"[") {
			return true
		}
	}
	return p == join("metadata.annotations", lastApplied)
}

var word = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func join(p, key string) string {
	switch {
	case !word.MatchString(key):
		return p + "[" + key + "]"
	case p == "":
		return key
	}
	return p + "." + key
}

func listKey(lists ...[]any) string {
	for _, k := range mergeKeys {
		if keyedBy(k, lists...) {
			return k
		}
	}
	return ""
}

func keyedBy(key string, lists ...[]any) bool {
	for _, l := range lists {
		seen := map[string]bool{}
		for _, e := range l {
			k := keyOf(e, key)
			if k == "" || seen[k] {
				return false
			}
			seen[k] = true
		}
	}
	return true
}

// keyOf is an item's merge key as text; empty when the item has none.
func keyOf(e any, key string) string {
	m, ok := e.(map[string]any)
	if !ok {
		return ""
	}
	switch v := m[key].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

func index(l []any, key string) map[string]any {
	m := make(map[string]any, len(l))
	for _, e := range l {
		m[keyOf(e, key)] = e
	}
	return m
}

func scalars(l []any) bool {
	for _, e := range l {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return len(l) > 0
}
