package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
)

// TestDrillWebhookDownRefusesOnlyAgentPods: with the injection webhook down, an agent's
// pod is refused with a message naming the webhook (failurePolicy Fail: it never runs
// without its sidecars), while other pods in its namespace, agent pods in a namespace not
// enabled and other objects are created as usual; once the webhook is back, the agent's
// pod is admitted and injected.
func TestDrillWebhookDownRefusesOnlyAgentPods(t *testing.T) {
	ctx := t.Context()
	const ns, off = "drill-webhook", "drill-webhook-off"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{agentv1.Kagenti.LabelEnabledNamespace(): "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: off}},
		&agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "weather"}, Spec: agentv1.AgentRuntimeSpec{
			Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "weather"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(namespace string, agent bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "weather-5d9f8-", Labels: map[string]string{"app": "weather", "pod-template-hash": "5d9f8"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "weather-5d9f8", UID: "00000000-0000-0000-0000-000000000002", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "example/agent:1", Ports: []corev1.ContainerPort{{ContainerPort: 8000}}}}},
		}
		if agent {
			p.Labels[agentv1.Kagenti.LabelType()] = string(agentv1.AgentTypeAgent)
		}
		return p
	}

	stopWebhook()
	restarted := false
	defer func() {
		if !restarted {
			_ = startWebhook(context.Background(), env)
		}
	}()
	err := env.Client.Create(ctx, pod(ns, true))
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "inject.kagenti.io"`) {
		t.Fatalf("an agent pod with the webhook down: %v; want it refused, naming the webhook", err)
	}
	for what, o := range map[string]client.Object{
		"a pod that is not an agent's":            pod(ns, false),
		"an agent pod in a namespace not enabled": pod(off, true),
		"a ConfigMap": &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Errorf("%s with the webhook down: %v", what, err)
		}
	}

	if err := startWebhook(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	restarted = true
	admitted := pod(ns, true)
	if err := env.Client.Create(ctx, admitted); err != nil {
		t.Fatalf("an agent pod with the webhook back: %v", err)
	}
	if !slices.ContainsFunc(admitted.Spec.Containers, func(c corev1.Container) bool { return slices.Contains(authbridge.SidecarContainers, c.Name) }) {
		t.Errorf("the pod admitted with the webhook back has no sidecar: %v", admitted.Spec.Containers)
	}
}
