package agentstatus

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// TestRossoctlAgentRuntime: the Rossoctl instance reconciles an agent.rossoctl.dev
// AgentRuntime whose workload carries Rossoctl's labels: its conditions are written to
// that object, Ready from rossoctl.io/config-hash, and its events regard it in its group.
// The Kagenti instance leaves it alone.
func TestRossoctlAgentRuntime(t *testing.T) {
	ctx := context.Background()
	f := agentv1.Rossoctl
	ns := "rossoctl-status"
	namespace(t, ns, nil, nil)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "chat"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "chat", f.LabelType(): "agent"}, Annotations: map[string]string{f.AnnotationConfigHash(): configHash}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "example/agent:1", Ports: []corev1.ContainerPort{{ContainerPort: 8000}}}}},
			},
		},
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	rt := &rossoctlv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec:       agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "chat"}, MTLSMode: agentv1.MTLSDisabled},
	}
	if err := env.Client.Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		latest := &rossoctlv1.AgentRuntime{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rt), latest); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(latest.Status.Conditions, agentv1.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && c.Reason == ReasonConfigured {
			if c.Message != "Deployment rossoctl-status/chat configured with config-hash 0123456789ab" {
				t.Errorf("Ready message %q", c.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Rossoctl AgentRuntime not Ready: %+v", latest.Status.Conditions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The event regards the Rossoctl object, in its group.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var list eventsv1.EventList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range list.Items {
			if e.Regarding.Name == "chat" && e.Reason == ReasonConfigured {
				if e.Regarding.APIVersion != f.APIVersion() {
					t.Fatalf("event regards %s, want %s", e.Regarding.APIVersion, f.APIVersion())
				}
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Configured event for the Rossoctl AgentRuntime")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// No Kagenti AgentRuntime of that name was made by a controller writing the wrong group.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rt), &agentv1.AgentRuntime{}); err == nil {
		t.Error("a Kagenti AgentRuntime rossoctl-status/chat exists")
	}
}
