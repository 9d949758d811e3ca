package inject

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// FuzzHandle gives the admission handler arbitrary pod bytes, as the API server would
// pass them on from any tenant that can create a pod, for every mode. Whatever the pod,
// the handler answers without panicking; a patch it returns applies to the pod as sent
// and gives a pod that decodes, and that pod, admitted again, is left alone.
func FuzzHandle(f *testing.F) {
	for _, mod := range []func(*corev1.Pod){
		nil,
		func(p *corev1.Pod) { p.Spec.Containers = nil },
		func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		},
		func(p *corev1.Pod) {
			p.Annotations = map[string]string{agentv1.Kagenti.AnnotationOutboundPortsExclude(): "5432,x"}
		},
	} {
		b, _ := json.Marshal(testPod(mod))
		for mode := range 4 {
			f.Add(b, uint8(mode))
		}
	}
	f.Add([]byte(`{"metadata":{"labels":{"kagenti.io/type":"agent"}},"spec":{"containers":[{"name":"authbridge-proxy"}]}}`), uint8(0))
	f.Add([]byte(`{"spec":{"containers":[{"ports":[{"containerPort":-1}]}]}}`), uint8(1))
	modes := []agentv1.AuthBridgeMode{agentv1.AuthBridgeProxySidecar, agentv1.AuthBridgeEnvoySidecar, agentv1.AuthBridgeLite, agentv1.AuthBridgeWaypoint}
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		spec := agentv1.AgentRuntimeSpec{AuthBridgeMode: modes[int(mode)%len(modes)]}
		m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", spec), spire: mode%2 == 0})
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Namespace: "team-a",
			Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Object: runtime.RawExtension{Raw: raw},
		}}
		resp := m.Handle(context.Background(), req)
		if !resp.Allowed || len(resp.Patches) == 0 {
			return
		}
		patched := applyPatch(t, raw, resp.Patches)
		var admitted corev1.Pod
		if err := json.Unmarshal(patched, &admitted); err != nil {
			t.Fatalf("the patched pod does not decode: %v", err)
		}
		if admitted.Namespace == "" {
			admitted.Namespace = "team-a"
		}
		if d, err := m.Mutate(context.Background(), &admitted); err != nil || len(d.Patch) != 0 {
			t.Fatalf("the admitted pod, admitted again: %d operations, %v", len(d.Patch), err)
		}
	})
}
