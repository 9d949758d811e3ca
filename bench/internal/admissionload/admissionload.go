package admissionload

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/webhook/inject"
)

// Mutator is the AuthBridge mutator on the benchmark's cluster state: one AgentRuntime
// (team-a/weather, permissive), SPIRE present, the default platform.
func Mutator() *inject.Mutator {
	return inject.NewMutator(&staticCluster{runtime: &agentv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "weather"},
		Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "weather"},
			MTLSMode: agentv1.MTLSPermissive},
	}, platform: gitopsv1.DefaultPlatform()})
}

// Review is the request the API server sends when a Deployment's ReplicaSet
// creates a typical agent pod: two containers with probes, env and a volume, and the
// managedFields the API server has already added.
func Review() (pod, review []byte, err error) {
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "weather-5d9f8c7b6-", Namespace: "team-a",
			Labels:      map[string]string{"app.kubernetes.io/name": "weather", "pod-template-hash": "5d9f8c7b6", agentv1.Kagenti.LabelType(): "agent"},
			Annotations: map[string]string{agentv1.Kagenti.AnnotationConfigHash(): "sha256:4f1c", agentv1.Kagenti.AnnotationMTLSMode(): "permissive"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "weather-5d9f8c7b6", UID: "6b3e1f0a-0d7e-4c1b-9a54-2f5b8f0e7c11",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},"f:spec":{"f:containers":{"k:{\"name\":\"agent\"}":{".":{},"f:env":{},"f:image":{},"f:name":{},"f:ports":{},"f:readinessProbe":{}}}}}`)}}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "weather",
			Containers: []corev1.Container{{
				Name: "agent", Image: "ghcr.io/example/weather-agent:1.4.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "MODEL", Value: "granite"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				Resources:    corev1.ResourceRequirements{},
				VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
			}, {
				Name: "metrics", Image: "ghcr.io/example/exporter:0.9", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100}},
			}},
			Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, nil, err
	}
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "team-a",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	return raw, body, nil
}

// Serve sends one AdmissionReview body to wh.
func Serve(wh http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/mutate-workloads-authbridge", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	return rec
}

// staticCluster is the cluster state of the benchmark: one AgentRuntime, SPIRE present,
// the platform's gates.
type staticCluster struct {
	runtime  *agentv1.AgentRuntime
	platform *gitopsv1.Platform
}

func (s *staticCluster) AgentRuntime(context.Context, agentv1.Family, string, agentid.Workload) (*agentv1.AgentRuntime, error) {
	return s.runtime, nil
}
func (s *staticCluster) NamespaceRuntime(context.Context, string) (map[string]any, error) {
	return nil, nil
}
func (s *staticCluster) Platform(context.Context, agentv1.Family) (*gitopsv1.Platform, error) {
	return s.platform, nil
}
func (s *staticCluster) SPIREPresent(context.Context) (bool, error) { return true, nil }
