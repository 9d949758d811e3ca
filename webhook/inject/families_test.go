package inject

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// rossoctlPod is testPod labelled in Rossoctl's names.
func rossoctlPod(mod func(*corev1.Pod)) *corev1.Pod {
	return testPod(func(p *corev1.Pod) {
		delete(p.Labels, agentv1.Kagenti.LabelType())
		p.Labels[agentv1.Rossoctl.LabelType()] = "agent"
		if mod != nil {
			mod(p)
		}
	})
}

// TestFamilies: the pod's family is its type label's; it finds the AgentRuntime of that
// family's group and spells what is injected. A pod of a family the platform does not
// read, or of both, is refused.
func TestFamilies(t *testing.T) {
	both := []agentv1.Family{agentv1.Kagenti, agentv1.Rossoctl}
	for _, c := range []struct {
		name     string
		families []agentv1.Family
		cluster  *fakeCluster
		pod      *corev1.Pod
		// injected: the pod gets the sidecar; else denied says why.
		injected bool
		denied   string
		reason   string
	}{
		{
			name: "a Rossoctl pod and its Rossoctl AgentRuntime", families: both, injected: true,
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), family: agentv1.Rossoctl},
			pod:     rossoctlPod(nil),
		},
		{
			name: "on a Rossoctl-only platform", families: []agentv1.Family{agentv1.Rossoctl}, injected: true,
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), family: agentv1.Rossoctl},
			pod:     rossoctlPod(nil),
		},
		{
			// A Kagenti AgentRuntime does not configure a Rossoctl pod: nothing enrols it.
			name: "a Rossoctl pod and a Kagenti AgentRuntime", families: both,
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{})},
			pod:     rossoctlPod(nil),
			denied:  "has label rossoctl.io/type=agent but no AgentRuntime in namespace team-a targets Deployment weather",
		},
		{
			name: "Rossoctl's opt-out", families: both,
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), family: agentv1.Rossoctl},
			pod:     rossoctlPod(func(p *corev1.Pod) { p.Labels[agentv1.Rossoctl.LabelInject()] = "disabled" }),
			reason:  "the pod opts out (rossoctl.io/inject=disabled)",
		},
		{
			name: "both families' labels", families: both,
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), family: agentv1.Rossoctl},
			pod:     rossoctlPod(func(p *corev1.Pod) { p.Labels[agentv1.Kagenti.LabelType()] = "agent" }),
			denied:  "pod team-a/weather-5d9f8-abcde is labelled both kagenti.io/type and rossoctl.io/type: one family's labels per pod",
		},
		{
			name: "a Rossoctl pod on a Kagenti platform", families: []agentv1.Family{agentv1.Kagenti},
			cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), family: agentv1.Rossoctl},
			pod:     rossoctlPod(nil),
			denied:  "is labelled rossoctl.io/type, which is Rossoctl's, and the platform does not read Rossoctl: add rossoctl to the Platform's families",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewMutator(c.cluster, c.families...).Mutate(context.Background(), c.pod)
			if c.denied != "" {
				var denial *Denial
				if err == nil || !strings.Contains(err.Error(), c.denied) || !asDenial(err, &denial) {
					t.Fatalf("got %v, want a denial containing %q", err, c.denied)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.reason != "" {
				if d.Reason != c.reason || len(d.Patch) != 0 {
					t.Fatalf("decision %+v, want nothing injected because %q", d, c.reason)
				}
				return
			}
			if len(d.Patch) == 0 {
				t.Fatalf("nothing injected: %s", d.Reason)
			}
			if got := c.pod.Annotations[agentv1.Rossoctl.AnnotationMTLSMode()]; got == "" {
				t.Errorf("no %s annotation: %v", agentv1.Rossoctl.AnnotationMTLSMode(), c.pod.Annotations)
			}
			for k := range c.pod.Annotations {
				if strings.Contains(k, "kagenti") {
					t.Errorf("Kagenti annotation %s on a Rossoctl pod", k)
				}
			}
			secret := ""
			for _, v := range c.pod.Spec.Volumes {
				if v.Secret != nil {
					secret = v.Secret.SecretName
				}
			}
			if !strings.HasPrefix(secret, "rossoctl-keycloak-client-credentials-") {
				t.Errorf("credentials Secret %q, want Rossoctl's", secret)
			}
		})
	}
}
