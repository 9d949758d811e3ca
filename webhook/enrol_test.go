package webhook_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/secureprofile"
)

// TestLabelOnlyAdmission: the AgentRuntime render generates for a workload its pods'
// label enrolled is one the API server takes, and the webhook injects the pod with its
// namespace's defaults and says so.
func TestLabelOnlyAdmission(t *testing.T) {
	ctx := context.Background()
	const ns = "label-only"
	setSPIRE(t, true)
	defer setSPIRE(t, false)
	createNamespace(t, ns)

	deployment := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "weather", "namespace": ns},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "weather"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "weather", agentv1.Kagenti.LabelType(): "agent"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "agent", "image": "example/agent:1"}}},
			},
		},
	}}
	namespace := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{agentv1.Kagenti.LabelEnabledNamespace(): "true"}},
	}}
	p := gitopsv1.DefaultPlatform()
	res, err := secureprofile.Expand([]*manifest.Object{manifest.New(namespace, "ns.yaml"), manifest.New(deployment, "weather.yaml")}, p)
	if err != nil {
		t.Fatal(err)
	}
	var rt *manifest.Object
	for _, o := range res.Objects {
		if o.GetKind() == agentv1.AgentRuntimeKind {
			rt = o
		}
	}
	if rt == nil {
		t.Fatal("no AgentRuntime generated for the labelled workload")
	}
	// As the engine writes it: server-side apply.
	if err := env.Client.Patch(ctx, rt.Unstructured, client.Apply, client.FieldOwner(gitopsv1.FieldManager), client.ForceOwnership); err != nil {
		t.Fatalf("the API server refuses the generated AgentRuntime: %v", err)
	}
	live := &agentv1.AgentRuntime{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "weather"}, live); err != nil {
		t.Fatal(err)
	}
	waitCached(t, live, live.ResourceVersion)

	cl, warned := clientWithWarnings(t)
	pod := agentPod(ns, "weather", "agent", []corev1.Container{agentContainer()})
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "authbridge-proxy" }) {
		t.Errorf("containers %v: the label-only agent was not injected", names(pod.Spec.Containers))
	}
	if !slices.ContainsFunc(warned.list, func(w string) bool { return strings.Contains(w, "enrolled by its label kagenti.io/type=agent") }) {
		t.Errorf("warnings %q, want the label-only one", warned.list)
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
