package manifest

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/kyaml/resid"
)

// Object is one rendered Kubernetes object.
type Object struct {
	*unstructured.Unstructured
	// Source is the file of the source tree the object came from, relative to the tree
	// root; empty for objects trustsync generated.
	Source string
}

// New wraps an unstructured object.
func New(u *unstructured.Unstructured, source string) *Object {
	return &Object{Unstructured: u, Source: source}
}

// Ref identifies an object for people and maps.
type Ref struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// RefOf returns the reference of an object.
func RefOf(o *unstructured.Unstructured) Ref {
	gvk := o.GroupVersionKind()
	return Ref{Group: gvk.Group, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Ref returns the reference of the object.
func (o *Object) Ref() Ref { return RefOf(o.Unstructured) }

// String gives "Kind namespace/name", or "Kind name" for cluster-scoped objects.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// ID is the inventory ID <namespace>_<name>_<group>_<kind>, as Flux writes it.
func (r Ref) ID() string {
	return r.Namespace + "_" + r.Name + "_" + r.Group + "_" + r.Kind
}

// ParseID reverses Ref.ID.
func ParseID(id string) (Ref, error) {
	parts := strings.Split(id, "_")
	if len(parts) != 4 {
		return Ref{}, fmt.Errorf("inventory id %q is not <namespace>_<name>_<group>_<kind>", id)
	}
	return Ref{Namespace: parts[0], Name: parts[1], Group: parts[2], Kind: parts[3]}, nil
}

// GroupKind returns the object's group and kind.
func (r Ref) GroupKind() schema.GroupKind { return schema.GroupKind{Group: r.Group, Kind: r.Kind} }

// Sort orders objects the way they are applied: Namespaces, CRDs and the other
// foundations first (kustomize's legacy kind order), then by group, namespace and name.
// The order is total, so the same set always comes out the same way.
func Sort(objs []*Object) {
	// Each object's sort key is read once: reading it per comparison (the apiVersion
	// parsed, the map walked) was most of a large revision's sort.
	keys := make([]sortKey, len(objs))
	for i, o := range objs {
		keys[i] = sortKeyOf(o)
	}
	slices.SortStableFunc(keys, sortKey.compare)
	for i := range keys {
		objs[i] = keys[i].o
	}
}

// Compare is the order of Sort: by kind (CompareKinds), namespace, then name.
func Compare(a, b *Object) int { return sortKeyOf(a).compare(sortKeyOf(b)) }

// sortKey is what Sort orders an object by.
type sortKey struct {
	o        *Object
	kind     resid.Gvk
	ns, name string
}

func sortKeyOf(o *Object) sortKey {
	g := o.GroupVersionKind()
	return sortKey{o: o, kind: resid.NewGvk(g.Group, g.Version, g.Kind), ns: o.GetNamespace(), name: o.GetName()}
}

func (a sortKey) compare(b sortKey) int {
	if c := compareGvks(a.kind, b.kind); c != 0 {
		return c
	}
	if c := strings.Compare(a.ns, b.ns); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// CompareKinds orders kinds as kustomize does: those others depend on (Namespaces,
// CRDs, ...) first.
func CompareKinds(ga, gb schema.GroupVersionKind) int {
	return compareGvks(resid.NewGvk(ga.Group, ga.Version, ga.Kind), resid.NewGvk(gb.Group, gb.Version, gb.Kind))
}

func compareGvks(ka, kb resid.Gvk) int {
	switch {
	case ka.Equals(kb):
		return 0
	case ka.IsLessThan(kb):
		return -1
	case kb.IsLessThan(ka):
		return 1
	}
	return 0
}

// Index finds objects by reference.
type Index map[Ref]*Object

// NewIndex indexes objects by reference; a later duplicate replaces an earlier one.
func NewIndex(objs []*Object) Index {
	idx := make(Index, len(objs))
	for _, o := range objs {
		idx[o.Ref()] = o
	}
	return idx
}
