package secureprofile

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/trustsync/trustsync/manifest"
)

// workloadKind is a kind an AgentRuntime may target, and where its pod template lives.
type workloadKind struct {
	group, kind  string
	templatePath []string
	hasSelector  bool
}

var workloadKinds = []workloadKind{
	{group: "apps", kind: "Deployment", templatePath: []string{"spec", "template"}, hasSelector: true},
	{group: "apps", kind: "StatefulSet", templatePath: []string{"spec", "template"}, hasSelector: true},
	{group: "agents.x-k8s.io", kind: "Sandbox", templatePath: []string{"spec", "podTemplate"}},
}

func supportedKinds() string {
	var names []string
	for _, k := range workloadKinds {
		names = append(names, k.kind+" ("+k.group+")")
	}
	return strings.Join(names, ", ")
}

func kindOf(group, kind string) (workloadKind, bool) {
	for _, k := range workloadKinds {
		if k.group == group && k.kind == kind {
			return k, true
		}
	}
	return workloadKind{}, false
}

// workload is an agent's target with typed access to its pod template.
type workload struct {
	obj  *manifest.Object
	kind workloadKind
	spec corev1.PodSpec
}

func newWorkload(obj *manifest.Object, kind workloadKind) (*workload, error) {
	w := &workload{obj: obj, kind: kind}
	raw, found, err := unstructured.NestedMap(obj.Object, w.path("spec")...)
	if err != nil || !found {
		return nil, manifest.Errorf(obj, strings.Join(w.path("spec"), "."), "the pod template has no spec")
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &w.spec); err != nil {
		return nil, manifest.Errorf(obj, strings.Join(w.path("spec"), "."), "%v", err)
	}
	return w, nil
}

func (w *workload) path(rest ...string) []string {
	return append(append([]string{}, w.kind.templatePath...), rest...)
}

func (w *workload) templateLabels() map[string]string {
	m, _, _ := unstructured.NestedStringMap(w.obj.Object, w.path("metadata", "labels")...)
	return m
}

func (w *workload) templateAnnotations() map[string]string {
	m, _, _ := unstructured.NestedStringMap(w.obj.Object, w.path("metadata", "annotations")...)
	return m
}

func (w *workload) setTemplateLabel(key, value string) {
	m := w.templateLabels()
	if m == nil {
		m = map[string]string{}
	}
	m[key] = value
	_ = unstructured.SetNestedStringMap(w.obj.Object, m, w.path("metadata", "labels")...)
}

func (w *workload) setTemplateAnnotations(add map[string]string) {
	m := w.templateAnnotations()
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range add {
		m[k] = v
	}
	_ = unstructured.SetNestedStringMap(w.obj.Object, m, w.path("metadata", "annotations")...)
}

// serviceAccount is the account the pods run as; "" means default.
func (w *workload) serviceAccount() string {
	if w.spec.ServiceAccountName != "" {
		return w.spec.ServiceAccountName
	}
	return w.spec.DeprecatedServiceAccount
}

func (w *workload) setServiceAccount(name string) {
	_ = unstructured.SetNestedField(w.obj.Object, name, w.path("spec", "serviceAccountName")...)
	if w.spec.DeprecatedServiceAccount != "" {
		_ = unstructured.SetNestedField(w.obj.Object, name, w.path("spec", "serviceAccount")...)
	}
	w.spec.ServiceAccountName = name
}

// podSelector selects the workload's pods: its label selector, or the template's labels
// for kinds without one.
func (w *workload) podSelector() (map[string]any, error) {
	if w.kind.hasSelector {
		sel, found, err := unstructured.NestedMap(w.obj.Object, "spec", "selector")
		if err != nil {
			return nil, manifest.Errorf(w.obj, "spec.selector", "%v", err)
		}
		if found {
			var ls metav1.LabelSelector
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, &ls); err != nil {
				return nil, manifest.Errorf(w.obj, "spec.selector", "%v", err)
			}
			if len(ls.MatchLabels) > 0 || len(ls.MatchExpressions) > 0 {
				return runtime.DeepCopyJSON(sel), nil
			}
		}
	}
	labels := w.templateLabels()
	if len(labels) == 0 {
		return nil, manifest.Errorf(w.obj, strings.Join(w.path("metadata", "labels"), "."), "the pods have no labels to select them by")
	}
	ml := map[string]any{}
	for k, v := range labels {
		ml[k] = v
	}
	return map[string]any{"matchLabels": ml}, nil
}

func (w *workload) ref() string {
	return fmt.Sprintf("%s/%s", w.kind.kind, w.obj.GetName())
}
