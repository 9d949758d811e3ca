package inject

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
)

// fakeCluster answers from fields; the envtest matrix in package webhook covers the
// cache-backed one.
type fakeCluster struct {
	runtime *agentv1.AgentRuntime
	// family of runtime; Kagenti when unset.
	family agentv1.Family
	gates  *gitopsv1.FeatureGates
	spire  bool
	// requireRuntime is the platform's injection.requireAgentRuntime.
	requireRuntime bool
}

func (f *fakeCluster) AgentRuntime(_ context.Context, fam agentv1.Family, ns string, w agentid.Workload) (*agentv1.AgentRuntime, error) {
	want := f.family
	if want == (agentv1.Family{}) {
		want = agentv1.Kagenti
	}
	if f.runtime == nil || fam != want || f.runtime.Namespace != ns || f.runtime.Spec.TargetRef.Name != w.Name || f.runtime.Spec.TargetRef.Kind != w.Kind {
		return nil, nil
	}
	return f.runtime, nil
}
func (f *fakeCluster) NamespaceRuntime(context.Context, string) (map[string]any, error) {
	return nil, nil
}
func (f *fakeCluster) Platform(context.Context, agentv1.Family) (*gitopsv1.Platform, error) {
	p := gitopsv1.DefaultPlatform()
	p.Injection.RequireAgentRuntime = f.requireRuntime
	if f.gates == nil {
		return p, nil
	}
	return WithGates(p, f.gates), nil
}

// labelOnly is the AgentRuntime render generates for a workload its label enrolled.
func labelOnly(rt *agentv1.AgentRuntime) *agentv1.AgentRuntime {
	rt.Annotations = map[string]string{gitopsv1.AnnotationEnrolment: gitopsv1.EnrolmentLabel}
	return rt
}
func (f *fakeCluster) SPIREPresent(context.Context) (bool, error) { return f.spire, nil }

func runtimeFor(kind, name string, spec agentv1.AgentRuntimeSpec) *agentv1.AgentRuntime {
	spec.Type = agentv1.AgentTypeAgent
	spec.TargetRef = agentv1.TargetRef{APIVersion: "apps/v1", Kind: kind, Name: name}
	return &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}, Spec: spec}
}

func testPod(mod func(*corev1.Pod)) *corev1.Pod {
	probe := func(h corev1.ProbeHandler) *corev1.Probe { return &corev1.Probe{ProbeHandler: h} }
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "team-a", Name: "weather-5d9f8-abcde",
			Labels:          map[string]string{agentv1.Kagenti.LabelType(): "agent", "pod-template-hash": "5d9f8"},
			Annotations:     map[string]string{"example.com/a~b": "x"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "weather-5d9f8", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:           "agent",
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}, {Name: "admin", ContainerPort: 7000}},
			Env:            []corev1.EnvVar{{Name: "PORT", Value: "8000"}, {Name: "HTTP_PROXY", Value: "http://corp:3128"}},
			LivenessProbe:  probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8000)}}),
			ReadinessProbe: probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}),
			StartupProbe:   probe(corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 7000}}),
		}, {
			Name: "sidecar-of-the-app",
		}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

// TestPatchIsTheMutation: applying the recorded patch to the pod as sent gives exactly
// the mutated pod, for every mode; mutating again changes nothing.
func TestPatchIsTheMutation(t *testing.T) {
	for _, c := range []struct {
		name  string
		spec  agentv1.AgentRuntimeSpec
		spire bool
		pod   func(*corev1.Pod)
	}{
		{name: "proxy-sidecar", spec: agentv1.AgentRuntimeSpec{}, spire: true},
		{name: "no spire", spec: agentv1.AgentRuntimeSpec{}},
		{name: "envoy", spec: agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar}, spire: true},
		{name: "tls bridge", spec: agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeLite, TLSBridgeMode: agentv1.TLSBridgeEnabled}},
		{name: "empty lists and no annotations", spec: agentv1.AgentRuntimeSpec{}, pod: func(p *corev1.Pod) {
			p.Annotations = nil
			p.Spec.Containers = []corev1.Container{{Name: "agent"}}
		}},
		{name: "the pod's own shared-data and SPIFFE socket", spec: agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar}, spire: true, pod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "spire-agent-socket", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "csi.spiffe.io", ReadOnly: ptr.To(true)}}},
				{Name: "shared-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			}
		}},
		{name: "existing volumes and init containers", spec: agentv1.AgentRuntimeSpec{}, spire: true, pod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", c.spec), spire: c.spire})
			pod := testPod(c.pod)
			before, _ := json.Marshal(pod)
			d, err := m.Mutate(context.Background(), pod)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Patch) == 0 {
				t.Fatal("no patch")
			}
			ops, _ := json.Marshal(d.Patch)
			patched := applyPatch(t, before, d.Patch)
			after, _ := json.Marshal(pod)
			if !jsonpatchapply.Equal(patched, after) {
				t.Fatalf("patch result differs from the mutation\npatched: %s\nmutated: %s", patched, after)
			}

			// Deterministic: the same pod gives the same patch.
			d2, _ := m.Mutate(context.Background(), testPod(c.pod))
			if again, _ := json.Marshal(d2.Patch); string(again) != string(ops) {
				t.Errorf("second patch differs:\n%s\n%s", ops, again)
			}
			// Idempotent: the admitted pod is left alone.
			var admitted corev1.Pod
			if err := json.Unmarshal(patched, &admitted); err != nil {
				t.Fatal(err)
			}
			if d3, err := m.Mutate(context.Background(), &admitted); err != nil || len(d3.Patch) != 0 {
				t.Errorf("reinvocation patched %d operations (err %v)", len(d3.Patch), err)
			}
		})
	}
}

// TestPortMove: the agent moves off its port, with its probes and PORT; its port name
// goes to the sidecar so Services by name reach the proxy; a user's HTTP_PROXY is kept.
func TestPortMove(t *testing.T) {
	m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}), spire: true})
	pod := testPod(nil)
	if _, err := m.Mutate(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	a := pod.Spec.Containers[0]
	if a.Ports[0].ContainerPort != 8001 || a.Ports[0].Name != "" || a.Ports[1].ContainerPort != 7000 {
		t.Errorf("agent ports %+v, want 8001 unnamed and 7000 untouched", a.Ports)
	}
	if a.LivenessProbe.TCPSocket.Port.IntVal != 8001 || a.ReadinessProbe.HTTPGet.Port.IntVal != 8001 || a.StartupProbe.GRPC.Port != 7000 {
		t.Errorf("probes not moved with the port: %+v %+v %+v", a.LivenessProbe.TCPSocket, a.ReadinessProbe.HTTPGet, a.StartupProbe.GRPC)
	}
	env := map[string]string{}
	for _, e := range a.Env {
		env[e.Name] = e.Value
	}
	if env["PORT"] != "8001" || env["HTTP_PROXY"] != "http://corp:3128" || env["HTTPS_PROXY"] != "http://127.0.0.1:8081" {
		t.Errorf("agent env %v", env)
	}
	sidecar := pod.Spec.Containers[len(pod.Spec.Containers)-1]
	if sidecar.Name != "authbridge-proxy" || sidecar.Ports[0].Name != "http" || sidecar.Ports[0].ContainerPort != 8000 {
		t.Errorf("sidecar %s ports %+v, want authbridge-proxy with http=8000", sidecar.Name, sidecar.Ports)
	}
	other := pod.Spec.Containers[1]
	if len(other.Env) != 3 {
		t.Errorf("the second app container got env %v, want the proxy variables", other.Env)
	}
}

// TestDecisions: the gates, opt-outs and refusals, without an API server.
func TestDecisions(t *testing.T) {
	off := false
	for _, c := range []struct {
		name    string
		cluster *fakeCluster
		pod     func(*corev1.Pod)
		reason  string
		denied  string
	}{
		{name: "kill switch", cluster: &fakeCluster{gates: &gitopsv1.FeatureGates{GlobalEnabled: &off}}, reason: "globalEnabled: false"},
		{name: "not an agent", cluster: &fakeCluster{}, pod: func(p *corev1.Pod) { p.Labels[agentv1.Kagenti.LabelType()] = "web" }, reason: "not an agent"},
		{name: "opted out", cluster: &fakeCluster{}, pod: func(p *corev1.Pod) { p.Labels[agentv1.Kagenti.LabelInject()] = "disabled" }, reason: "opts out"},
		{name: "already injected", cluster: &fakeCluster{}, pod: func(p *corev1.Pod) { p.Spec.Containers[1].Name = "envoy-proxy" }, reason: "already injected"},
		{name: "bare pod", cluster: &fakeCluster{}, pod: func(p *corev1.Pod) { p.OwnerReferences = nil }, denied: "but no controller"},
		{name: "no AgentRuntime", cluster: &fakeCluster{}, denied: "no AgentRuntime in namespace team-a targets Deployment weather, and no Sync enrolled it by its label"},
		{name: "no AgentRuntime, one required", cluster: &fakeCluster{requireRuntime: true},
			denied: "no AgentRuntime in namespace team-a targets Deployment weather, and the platform requires one (injection.requireAgentRuntime)"},
		{name: "label-only, an AgentRuntime required", cluster: &fakeCluster{requireRuntime: true, runtime: labelOnly(runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{}))},
			denied: "is enrolled by its label kagenti.io/type=agent only (AgentRuntime team-a/weather was generated for it), and the platform requires an AgentRuntime of the repository"},
		{name: "StatefulSet", cluster: &fakeCluster{runtime: runtimeFor("StatefulSet", "weather", agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeWaypoint})},
			pod: func(p *corev1.Pod) {
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "weather", Controller: ptr.To(true)}}
			}, reason: "injects nothing"},
		{name: "reserved volume name", cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{})},
			pod: func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "authproxy-routes"}} }, denied: `volume name "authproxy-routes" is reserved`},
		{name: "own shared-data of another kind", cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{})},
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}
			}, denied: `volume "shared-data" is a configMap volume`},
		{name: "strict without SPIRE", cluster: &fakeCluster{runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{MTLSMode: agentv1.MTLSStrict})},
			denied: "AgentRuntime team-a/weather: mtlsMode strict needs an X.509-SVID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := testPod(c.pod)
			d, err := NewMutator(c.cluster).Mutate(context.Background(), pod)
			if c.denied != "" {
				var denial *Denial
				if err == nil || !strings.Contains(err.Error(), c.denied) || !asDenial(err, &denial) {
					t.Fatalf("got %v, want a denial containing %q", err, c.denied)
				}
				return
			}
			if err != nil || len(d.Patch) != 0 || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("got %d ops, reason %q, err %v; want no patch and a reason containing %q", len(d.Patch), d.Reason, err, c.reason)
			}
		})
	}
}

func asDenial(err error, d **Denial) bool {
	x, ok := err.(*Denial)
	*d = x
	return ok
}

func TestWorkloadOf(t *testing.T) {
	owner := func(apiVersion, kind, name string, controller bool) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptr.To(controller)}}
	}
	for _, c := range []struct {
		name   string
		owners []metav1.OwnerReference
		hash   string
		want   agentid.Workload
		ok     bool
	}{
		{"deployment", owner("apps/v1", "ReplicaSet", "web-7c9d", true), "7c9d", agentid.Workload{Group: "apps", Kind: "Deployment", Name: "web"}, true},
		{"bare replicaset", owner("apps/v1", "ReplicaSet", "web", true), "", agentid.Workload{Group: "apps", Kind: "ReplicaSet", Name: "web"}, true},
		{"statefulset", owner("apps/v1", "StatefulSet", "db", true), "", agentid.Workload{Group: "apps", Kind: "StatefulSet", Name: "db"}, true},
		{"sandbox", owner("agents.x-k8s.io/v1alpha1", "Sandbox", "box", true), "", agentid.Workload{Group: "agents.x-k8s.io", Kind: "Sandbox", Name: "box"}, true},
		{"core group", owner("v1", "ReplicationController", "rc", true), "", agentid.Workload{Group: "", Kind: "ReplicationController", Name: "rc"}, true},
		{"not a controller", owner("apps/v1", "StatefulSet", "db", false), "", agentid.Workload{}, false},
		{"no owner", nil, "", agentid.Workload{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: c.owners, Labels: map[string]string{"pod-template-hash": c.hash}}}
			got, ok := workloadOf(pod)
			if got != c.want || ok != c.ok {
				t.Errorf("workloadOf = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// TestLabelOnlyWarns: a pod its label enrolled is injected with its namespace's defaults,
// and the admission says so; one its own AgentRuntime declares is not warned about.
func TestLabelOnlyWarns(t *testing.T) {
	for _, c := range []struct {
		name    string
		runtime *agentv1.AgentRuntime
		warned  bool
	}{
		{name: "label-only", runtime: labelOnly(runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{})), warned: true},
		{name: "declared", runtime: runtimeFor("Deployment", "weather", agentv1.AgentRuntimeSpec{})},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewMutator(&fakeCluster{runtime: c.runtime, spire: true}).Mutate(context.Background(), testPod(nil))
			if err != nil || len(d.Patch) == 0 {
				t.Fatalf("got %d ops, err %v; want the pod injected", len(d.Patch), err)
			}
			warned := slices.ContainsFunc(d.Warnings, func(w string) bool {
				return strings.Contains(w, "it is enrolled by its label kagenti.io/type=agent with the namespace's defaults")
			})
			if warned != c.warned {
				t.Errorf("warnings %q; want the label-only warning: %v", d.Warnings, c.warned)
			}
		})
	}
}

// applyPatch is the pod as sent (JSON) with the admission patch applied: what the API
// server stores.
func applyPatch(t testing.TB, sent []byte, patch []jsonpatch.JsonPatchOperation) []byte {
	t.Helper()
	ops, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := jsonpatchapply.DecodePatch(ops)
	if err != nil {
		t.Fatalf("the patch does not decode: %v", err)
	}
	patched, err := decoded.Apply(sent)
	if err != nil {
		t.Fatalf("applying %s: %v", ops, err)
	}
	return patched
}
