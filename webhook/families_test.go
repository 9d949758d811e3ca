package webhook_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
)

// TestRossoctlPod: through the real API server, a pod labelled rossoctl.io/type in a
// rossoctl-enabled namespace is injected as its agent.rossoctl.dev AgentRuntime says,
// annotated in Rossoctl's names; one labelled in both families is refused.
func TestRossoctlPod(t *testing.T) {
	ctx := context.Background()
	f := agentv1.Rossoctl
	setSPIRE(t, false)
	ns := "rossoctl-pods"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{f.LabelEnabledNamespace(): "true"}}}); err != nil {
		t.Fatal(err)
	}
	rt := &rossoctlv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "weather"}, Spec: agentv1.AgentRuntimeSpec{
		Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "weather"},
	}}
	if err := env.Client.Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	waitCached(t, rt, rt.ResourceVersion)

	rossoctlPod := func() *corev1.Pod {
		pod := agentPod(ns, "weather", "agent", []corev1.Container{agentContainer()})
		delete(pod.Labels, agentv1.Kagenti.LabelType())
		pod.Labels[f.LabelType()] = "agent"
		return pod
	}
	pod := rossoctlPod()
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	live := &corev1.Pod{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), live); err != nil {
		t.Fatal(err)
	}
	injected := false
	for _, c := range live.Spec.Containers {
		injected = injected || c.Name == authbridge.SidecarContainers[0]
	}
	if !injected {
		t.Fatalf("no sidecar in %v", live.Spec.Containers)
	}
	if live.Annotations[f.AnnotationMTLSMode()] == "" {
		t.Errorf("annotations %v, want %s", live.Annotations, f.AnnotationMTLSMode())
	}
	for k := range live.Annotations {
		if strings.Contains(k, "kagenti") {
			t.Errorf("Kagenti annotation %s on a Rossoctl pod", k)
		}
	}

	both := rossoctlPod()
	both.Labels[agentv1.Kagenti.LabelType()] = "agent"
	err := env.Client.Create(ctx, both)
	if err == nil || !strings.Contains(err.Error(), "is labelled both kagenti.io/type and rossoctl.io/type") {
		t.Fatalf("creating a pod of both families: %v, want a denial", err)
	}
}
