package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(apiVersion, kind, namespace, name string) *Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return New(u, "x.yaml")
}

func TestSortPutsFoundationsFirstAndIsTotal(t *testing.T) {
	objs := []*Object{
		obj("apps/v1", "Deployment", "b", "web"),
		obj("v1", "ConfigMap", "b", "z"),
		obj("v1", "ConfigMap", "a", "z"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "things.example.org"),
		obj("v1", "Namespace", "", "b"),
		obj("v1", "Namespace", "", "a"),
		obj("agent.kagenti.dev/v1alpha1", "AgentRuntime", "b", "web"),
	}
	want := []string{"Namespace a", "Namespace b", "CustomResourceDefinition things.example.org", "ConfigMap a/z", "ConfigMap b/z", "Deployment b/web", "AgentRuntime b/web"}
	for round := 0; round < 2; round++ {
		Sort(objs)
		var got []string
		for _, o := range objs {
			got = append(got, o.Ref().String())
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Fatalf("round %d: got %v, want %v", round, got, want)
		}
		if !slices.IsSortedFunc(objs, Compare) {
			t.Fatalf("round %d: Sort and Compare disagree", round)
		}
		// A reversed input comes out the same: the order does not depend on the input's.
		for i, j := 0, len(objs)-1; i < j; i, j = i+1, j-1 {
			objs[i], objs[j] = objs[j], objs[i]
		}
	}
}

func TestRefStringAndID(t *testing.T) {
	tests := []struct {
		o         *Object
		str, id   string
		groupKind string
	}{
		{obj("apps/v1", "Deployment", "team-a", "web"), "Deployment team-a/web", "team-a_web_apps_Deployment", "Deployment.apps"},
		{obj("v1", "Namespace", "", "team-a"), "Namespace team-a", "_team-a__Namespace", "Namespace"},
	}
	for _, tt := range tests {
		r := tt.o.Ref()
		if r.String() != tt.str || r.ID() != tt.id || r.GroupKind().String() != tt.groupKind {
			t.Errorf("%+v: String %q ID %q GroupKind %q", r, r.String(), r.ID(), r.GroupKind())
		}
		back, err := ParseID(r.ID())
		if err != nil || back != r {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", r.ID(), back, err, r)
		}
	}
	for _, bad := range []string{"", "a_b_c", "a_b_c_d_e"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// FuzzParseID: no input panics, and what parses prints back as itself.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{"team-a_web_apps_Deployment", "_ns__Namespace", "", "____", "a_b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r, err := ParseID(id)
		if err == nil && r.ID() != id {
			t.Fatalf("ParseID(%q) = %+v, which prints as %q", id, r, r.ID())
		}
	})
}

func TestErrorNamesFileObjectField(t *testing.T) {
	o := obj("agent.kagenti.dev/v1alpha1", "AgentRuntime", "team-a", "web")
	e := Errorf(o, "spec.targetRef", "Deployment %s is not in the build", "web")
	if got, want := e.Error(), "x.yaml: AgentRuntime team-a/web: spec.targetRef: Deployment web is not in the build"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	generated := &Error{Object: Ref{Kind: "ConfigMap", Namespace: "a", Name: "b"}, Err: errors.New("too long")}
	if got, want := generated.Error(), "ConfigMap a/b: too long"; got != want {
		t.Fatalf("without file and field: got %q, want %q", got, want)
	}
	sentinel := errors.New("cause")
	if !errors.Is(&Error{Err: fmt.Errorf("wrapped: %w", sentinel)}, sentinel) {
		t.Fatal("Error does not unwrap to its cause")
	}
}

func TestErrorsFlattensJoinedTrees(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	tree := errors.Join(a, errors.Join(b, nil, c))
	got := Errors(tree)
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("got %v, want [a b c] in order", got)
	}
	if Errors(nil) != nil {
		t.Fatal("nil has no leaves")
	}
	if got := Errors(a); len(got) != 1 || got[0] != a {
		t.Fatalf("a single error is its own leaf: %v", got)
	}
}
