package secureprofile

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trustsync/trustsync/manifest"
)

// Labels of generated objects.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	ManagedBy      = "trustsync"

	// LabelAgentRuntime and LabelAgentRuntimeNamespace name the AgentRuntime a
	// per-agent object was generated for.
	LabelAgentRuntime          = "trustsync.dev/agentruntime"
	LabelAgentRuntimeNamespace = "trustsync.dev/agentruntime-namespace"

	componentAgent     = "agent"
	componentNamespace = "namespace"
	componentPlatform  = "platform"
)

// generated builds an object trustsync generated, labelled as such.
func generated(apiVersion, kind, namespace, name, component string) *manifest.Object {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	u.SetLabels(map[string]string{LabelManagedBy: ManagedBy, LabelComponent: component})
	return manifest.New(u, "")
}

// forAgent builds an object generated for one agent.
func forAgent(apiVersion, kind, namespace, name string, a *agent) *manifest.Object {
	o := generated(apiVersion, kind, namespace, name, componentAgent)
	l := o.GetLabels()
	l[LabelAgentRuntime] = a.rt.Name
	l[LabelAgentRuntimeNamespace] = a.rt.Namespace
	o.SetLabels(l)
	return o
}

// IsPlatform reports whether trustsync generated an object for the platform as a whole
// (feature gates, the default global policy, Kuadrant) rather than for the repository:
// every Sync renders the same ones, so the engine applies them once, for all.
func IsPlatform(o *manifest.Object) bool {
	l := o.GetLabels()
	return o.Source == "" && l[LabelManagedBy] == ManagedBy && l[LabelComponent] == componentPlatform
}

// KuadrantKind is the kind of the Kuadrant CR the platform may ask for.
var KuadrantKind = schema.GroupKind{Group: "kuadrant.io", Kind: "Kuadrant"}

// IsKuadrantOperand reports whether o is the Kuadrant CR or the namespace trustsync
// generated for it: what a cluster that does not serve Kuadrant cannot take yet.
func IsKuadrantOperand(o *manifest.Object) bool {
	gk := o.GroupVersionKind().GroupKind()
	return gk == KuadrantKind || (gk == schema.GroupKind{Kind: "Namespace"} && o.GetName() == kuadrantNamespace && o.Source == "")
}

func setLabel(u *unstructured.Unstructured, key, value string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[key] = value
	u.SetLabels(l)
}

func configMap(o *manifest.Object, data map[string]string) *manifest.Object {
	d := make(map[string]any, len(data))
	for k, v := range data {
		d[k] = v
	}
	o.Object["data"] = d
	return o
}
