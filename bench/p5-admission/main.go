package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/webhook/inject"
)

func main() {
	requests := flag.Int("requests", 20000, "admission requests per side")
	flag.Parse()

	cluster := &staticCluster{runtime: &agentv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "weather"},
		Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "weather"},
			MTLSMode: agentv1.MTLSPermissive},
	}, platform: gitopsv1.DefaultPlatform()}
	mutator := inject.NewMutator(cluster)
	ours := &admission.Webhook{Handler: mutator}
	baseline := &admission.Webhook{Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		var pod corev1.Pod
		if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if _, err := mutator.Mutate(ctx, &pod); err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		mutated, err := json.Marshal(&pod)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
	})}

	podJSON, review := admissionReview()
	oursPatch := check(ours, review)
	basePatch := check(baseline, review)
	if !samePod(podJSON, oursPatch, basePatch) {
		benchutil.Fatal(fmt.Errorf("the two patches do not produce the same pod"))
	}
	fmt.Printf("pod %d bytes; trustsync patch %d ops, %d bytes; baseline patch %d ops, %d bytes\n",
		len(podJSON), count(oursPatch), len(oursPatch), count(basePatch), len(basePatch))

	run := func(name string, wh http.Handler) (p50, p99 time.Duration, rps float64) {
		for range 500 { // warm up
			serve(wh, review)
		}
		lat := make([]time.Duration, *requests)
		start := time.Now()
		for i := range lat {
			t := time.Now()
			serve(wh, review)
			lat[i] = time.Since(t)
		}
		total := time.Since(start)
		slices.Sort(lat)
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		rps = float64(len(lat)) / total.Seconds()
		fmt.Printf("%-9s %d requests: p50 %d µs, p99 %d µs, %.0f requests/s\n", name, len(lat), p50.Microseconds(), p99.Microseconds(), rps)
		return p50, p99, rps
	}
	_, baseP99, baseRPS := run("baseline", baseline)
	p50, p99, rps := run("trustsync", ours)
	benchutil.Result("P5",
		"requests", fmt.Sprint(*requests),
		"p50_us", fmt.Sprint(p50.Microseconds()),
		"p99_us", fmt.Sprint(p99.Microseconds()),
		"rps", fmt.Sprintf("%.0f", rps),
		"baseline_p99_us", fmt.Sprint(baseP99.Microseconds()),
		"baseline_rps", fmt.Sprintf("%.0f", baseRPS),
		"ratio", fmt.Sprintf("%.2f", rps/baseRPS),
	)
}

// admissionReview is the request the API server sends when a Deployment's ReplicaSet
// creates a typical agent pod: two containers with probes, env and a volume, and the
// managedFields the API server has already added.
func admissionReview() ([]byte, []byte) {
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "weather-5d9f8c7b6-", Namespace: "team-a",
			Labels:      map[string]string{"app.kubernetes.io/name": "weather", "pod-template-hash": "5d9f8c7b6", agentv1.LabelType: "agent"},
			Annotations: map[string]string{agentv1.AnnotationConfigHash: "sha256:4f1c", agentv1.AnnotationMTLSMode: "permissive"},
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
	raw, err := json.Marshal(pod)
	if err != nil {
		benchutil.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "team-a",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		benchutil.Fatal(err)
	}
	return raw, body
}

func serve(wh http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/mutate-workloads-authbridge", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	return rec
}

// check serves one request and returns its patch, failing unless the pod was patched.
func check(wh http.Handler, body []byte) []byte {
	rec := serve(wh, body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil || !review.Response.Allowed || len(review.Response.Patch) == 0 {
		benchutil.Fatal(fmt.Errorf("unexpected admission response (%v): %s", err, rec.Body.String()))
	}
	return review.Response.Patch
}

func samePod(pod, a, b []byte) bool {
	apply := func(p []byte) []byte {
		patch, err := jsonpatchapply.DecodePatch(p)
		if err != nil {
			benchutil.Fatal(err)
		}
		out, err := patch.Apply(pod)
		if err != nil {
			benchutil.Fatal(err)
		}
		return out
	}
	return jsonpatchapply.Equal(apply(a), apply(b))
}

func count(patch []byte) int {
	var ops []json.RawMessage
	_ = json.Unmarshal(patch, &ops)
	return len(ops)
}

// staticCluster is the cluster state of the benchmark: one AgentRuntime, SPIRE present,
// the platform's gates.
type staticCluster struct {
	runtime  *agentv1.AgentRuntime
	platform *gitopsv1.Platform
}

func (s *staticCluster) AgentRuntime(context.Context, string, agentid.Workload) (*agentv1.AgentRuntime, error) {
	return s.runtime, nil
}
func (s *staticCluster) NamespaceRuntime(context.Context, string) (map[string]any, error) {
	return nil, nil
}
func (s *staticCluster) Platform(context.Context) (*gitopsv1.Platform, error) { return s.platform, nil }
func (s *staticCluster) SPIREPresent(context.Context) (bool, error)           { return true, nil }
