package inject

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
)

func emptyDir(medium corev1.StorageMedium, size string) corev1.VolumeSource {
	src := &corev1.EmptyDirVolumeSource{Medium: medium}
	if size != "" {
		src.SizeLimit = ptr.To(resource.MustParse(size))
	}
	return corev1.VolumeSource{EmptyDir: src}
}

func spiffeCSI(driver string, readOnly *bool) corev1.VolumeSource {
	return corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: driver, ReadOnly: readOnly}}
}

// TestOwnVolumes: a pod's own shared-data and spire-agent-socket are used by the sidecars
// when they are of the kind AuthBridge would inject; any other source under those names,
// and any other AuthBridge volume name, is refused with the pod, the volume and what it
// must be.
func TestOwnVolumes(t *testing.T) {
	envoy := agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar}
	socket := corev1.Volume{Name: "spire-agent-socket", VolumeSource: spiffeCSI("csi.spiffe.io", ptr.To(true))}
	hostPath := corev1.Volume{Name: "spire-agent-socket", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/spire/agent-sockets"}}}
	const pod = "pod team-a/weather-5d9f8-abcde: spec.volumes[0]: "
	for _, c := range []struct {
		name    string
		spec    agentv1.AgentRuntimeSpec
		spire   bool
		labels  map[string]string
		volumes []corev1.Volume
		reused  []string // the pod's volumes the sidecars mount
		denied  string
	}{
		{name: "shared-data emptyDir", spire: true, volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: emptyDir("", "")}}, reused: []string{"shared-data"}},
		{name: "shared-data in memory with a size limit", volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: emptyDir(corev1.StorageMediumMemory, "64Mi")}}, reused: []string{"shared-data"}},
		{name: "shared-data in envoy mode", spec: envoy, spire: true, volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: emptyDir("", "")}}, reused: []string{"shared-data"}},
		{name: "shared-data configMap", volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}}}},
			denied: pod + `volume "shared-data" is a configMap volume; AuthBridge shares it with its sidecar as scratch space, so it must be an emptyDir (any medium or sizeLimit): make it one or rename it`},
		{name: "shared-data secret", volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app"}}}},
			denied: pod + `volume "shared-data" is a secret volume;`},
		{name: "shared-data persistent volume claim", volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
			denied: pod + `volume "shared-data" is a persistentVolumeClaim volume;`},
		{name: "shared-data emptyDir as an ephemeral volume", volumes: []corev1.Volume{{Name: "shared-data", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}}},
			denied: pod + `volume "shared-data" is an ephemeral volume;`},
		{name: "spire socket from the CSI driver", spire: true, volumes: []corev1.Volume{socket}, reused: []string{"spire-agent-socket"}},
		{name: "both, envoy", spec: envoy, spire: true, volumes: []corev1.Volume{socket, {Name: "shared-data", VolumeSource: emptyDir("", "")}}, reused: []string{"spire-agent-socket", "shared-data"}},
		{name: "spire socket not read-only", spire: true, volumes: []corev1.Volume{{Name: "spire-agent-socket", VolumeSource: spiffeCSI("csi.spiffe.io", nil)}},
			denied: pod + `volume "spire-agent-socket" of driver csi.spiffe.io is not readOnly; it must be csi: {driver: csi.spiffe.io, readOnly: true}`},
		{name: "spire socket read-write", spire: true, volumes: []corev1.Volume{{Name: "spire-agent-socket", VolumeSource: spiffeCSI("csi.spiffe.io", ptr.To(false))}},
			denied: pod + `volume "spire-agent-socket" of driver csi.spiffe.io is not readOnly`},
		{name: "spire socket of another driver", spire: true, volumes: []corev1.Volume{{Name: "spire-agent-socket", VolumeSource: spiffeCSI("secrets-store.csi.k8s.io", ptr.To(true))}},
			denied: pod + `volume "spire-agent-socket" is a CSI volume of driver "secrets-store.csi.k8s.io"; it must be the SPIFFE CSI driver's (csi: {driver: csi.spiffe.io, readOnly: true})`},
		{name: "spire socket as a hostPath", spire: true, volumes: []corev1.Volume{hostPath},
			denied: pod + `volume "spire-agent-socket" is a hostPath volume; it must be the SPIFFE CSI driver's (csi: {driver: csi.spiffe.io, readOnly: true})`},
		// Without SPIRE nothing of that name is injected: the pod's volume is its own.
		{name: "hostPath socket, SPIRE absent", volumes: []corev1.Volume{hostPath}},
		{name: "hostPath socket, pod opts out of SPIRE", spire: true, labels: map[string]string{agentv1.Kagenti.LabelSpiffeHelperInject(): "false"}, volumes: []corev1.Volume{hostPath}},
		{name: "reserved name", volumes: []corev1.Volume{{Name: "authbridge-config", VolumeSource: emptyDir("", "")}},
			denied: pod + `volume name "authbridge-config" is reserved for AuthBridge; rename the pod's volume`},
		{name: "reserved name in envoy mode", spec: envoy, volumes: []corev1.Volume{{Name: "envoy-config", VolumeSource: emptyDir("", "")}},
			denied: pod + `volume name "envoy-config" is reserved`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", c.spec), spire: c.spire})
			mod := func(p *corev1.Pod) {
				p.Spec.Volumes = slices.Clone(c.volumes)
				for k, v := range c.labels {
					p.Labels[k] = v
				}
			}
			got := testPod(mod)
			d, err := m.Mutate(context.Background(), got)
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
			checkAdmitted(t, m, testPod(mod), got, d)
			for _, name := range c.reused {
				checkReused(t, got, d, c.volumes, name)
			}
			// What the pod brought is never changed.
			for _, own := range c.volumes {
				i := slices.IndexFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == own.Name })
				if i < 0 || !equality.Semantic.DeepEqual(got.Spec.Volumes[i], own) {
					t.Errorf("the pod's volume %q changed to %+v", own.Name, got.Spec.Volumes)
				}
			}
		})
	}
}

// checkAdmitted: the patch applied to the pod as sent gives the mutated pod; every volume
// name is unique and every mount names a volume; mutating the admitted pod again (the
// API server's reinvocation) changes nothing.
func checkAdmitted(t *testing.T, m *Mutator, sent, mutated *corev1.Pod, d Decision) {
	t.Helper()
	if len(d.Patch) == 0 {
		t.Fatalf("nothing injected: %s", d.Reason)
	}
	before, _ := json.Marshal(sent)
	patched := applyPatch(t, before, d.Patch)
	after, _ := json.Marshal(mutated)
	if !jsonpatchapply.Equal(patched, after) {
		t.Fatalf("patch result differs from the mutation\npatched: %s\nmutated: %s", patched, after)
	}
	names := map[string]bool{}
	for _, v := range mutated.Spec.Volumes {
		if names[v.Name] {
			t.Errorf("volume %q twice", v.Name)
		}
		names[v.Name] = true
	}
	for _, c := range slices.Concat(mutated.Spec.InitContainers, mutated.Spec.Containers) {
		for _, vm := range c.VolumeMounts {
			if !names[vm.Name] {
				t.Errorf("container %s mounts %q, which is no volume of the pod", c.Name, vm.Name)
			}
		}
	}
	var admitted corev1.Pod
	if err := json.Unmarshal(patched, &admitted); err != nil {
		t.Fatal(err)
	}
	if d2, err := m.Mutate(context.Background(), &admitted); err != nil || len(d2.Patch) != 0 {
		t.Errorf("reinvocation patched %d operations (err %v)", len(d2.Patch), err)
	}
}

// checkReused: the sidecar mounts the pod's own volume name, which the patch does not add.
func checkReused(t *testing.T, pod *corev1.Pod, d Decision, own []corev1.Volume, name string) {
	t.Helper()
	for _, op := range d.Patch {
		if strings.HasPrefix(op.Path, "/spec/volumes") && strings.Contains(mustJSON(op.Value), `"name":"`+name+`"`) {
			t.Errorf("the patch adds volume %q, which the pod has: %s %s", name, op.Operation, op.Path)
		}
	}
	sidecar := pod.Spec.Containers[len(pod.Spec.Containers)-1]
	if !slices.Contains(authbridge.SidecarContainers, sidecar.Name) {
		t.Fatalf("last container %s is no sidecar", sidecar.Name)
	}
	if !slices.ContainsFunc(sidecar.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == name }) {
		t.Errorf("sidecar %s does not mount %q: %+v", sidecar.Name, name, sidecar.VolumeMounts)
	}
	if !slices.ContainsFunc(own, func(v corev1.Volume) bool { return v.Name == name }) {
		t.Errorf("test case: %q is not among the pod's volumes", name)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestUpstreamDemoPods admits the pods of upstream's demos (testdata/upstream, sources in
// SOURCES) in both sidecar data planes: the volumes they declare are the sidecars', or
// the pod is refused with the reason.
func TestUpstreamDemoPods(t *testing.T) {
	for _, c := range []struct {
		file   string
		reused []string
		denied string
	}{
		{file: "shared-data-agent.yaml", reused: []string{"shared-data"}},
		{file: "shared-data-restricted.yaml", reused: []string{"shared-data"}},
		{file: "spire-signing.yaml", reused: []string{"spire-agent-socket"}},
		{file: "hostpath-socket.yaml", denied: `spec.volumes[1]: volume "spire-agent-socket" is a hostPath volume; it must be the SPIFFE CSI driver's`},
	} {
		for _, mode := range []agentv1.AuthBridgeMode{agentv1.AuthBridgeProxySidecar, agentv1.AuthBridgeEnvoySidecar} {
			t.Run(c.file+"/"+string(mode), func(t *testing.T) {
				load := func() *corev1.Pod {
					data, err := os.ReadFile(filepath.Join("testdata", "upstream", c.file))
					if err != nil {
						t.Fatal(err)
					}
					var p corev1.Pod
					if err := yaml.UnmarshalStrict(data, &p); err != nil {
						t.Fatal(err)
					}
					p.Namespace, p.Name = "team-a", "demo-5d9f8-abcde"
					p.Labels["pod-template-hash"] = "5d9f8"
					p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "demo-5d9f8", Controller: ptr.To(true)}}
					return &p
				}
				m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "demo", agentv1.AgentRuntimeSpec{AuthBridgeMode: mode}), spire: true})
				pod := load()
				own := slices.Clone(pod.Spec.Volumes)
				d, err := m.Mutate(context.Background(), pod)
				if c.denied != "" {
					if err == nil || !strings.Contains(err.Error(), "pod team-a/demo-5d9f8-abcde: "+c.denied) {
						t.Fatalf("got %v, want a denial containing %q", err, c.denied)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				checkAdmitted(t, m, load(), pod, d)
				for _, name := range c.reused {
					checkReused(t, pod, d, own, name)
				}
			})
		}
	}
}

// TestEnvoyConfigMount: the Envoy sidecar mounts its own rendered envoy-config-<workload>
// at /etc/envoy, not optional; where SPIRE turns out to be absent for a permissive agent,
// the plaintext variant is projected as envoy.yaml.
func TestEnvoyConfigMount(t *testing.T) {
	for _, c := range []struct {
		name  string
		mtls  agentv1.MTLSMode
		spire bool
		items []corev1.KeyToPath
	}{
		{name: "permissive", mtls: agentv1.MTLSPermissive, spire: true},
		{name: "strict", mtls: agentv1.MTLSStrict, spire: true},
		{name: "disabled", mtls: agentv1.MTLSDisabled, spire: true},
		{name: "disabled without SPIRE", mtls: agentv1.MTLSDisabled},
		{name: "permissive without SPIRE", mtls: agentv1.MTLSPermissive, items: []corev1.KeyToPath{{Key: "envoy-plaintext.yaml", Path: "envoy.yaml"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar, MTLSMode: c.mtls}
			pod := testPod(nil)
			if _, err := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", spec), spire: c.spire}).Mutate(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "envoy-config" })
			if i < 0 || pod.Spec.Volumes[i].ConfigMap == nil {
				t.Fatalf("no envoy-config ConfigMap volume: %+v", pod.Spec.Volumes)
			}
			cm := pod.Spec.Volumes[i].ConfigMap
			if cm.Name != "envoy-config-weather" || (cm.Optional != nil && *cm.Optional) || !equality.Semantic.DeepEqual(cm.Items, c.items) {
				t.Errorf("envoy-config volume %+v, want ConfigMap envoy-config-weather, not optional, items %v", cm, c.items)
			}
			sidecar := pod.Spec.Containers[len(pod.Spec.Containers)-1]
			if !slices.ContainsFunc(sidecar.VolumeMounts, func(vm corev1.VolumeMount) bool {
				return equality.Semantic.DeepEqual(vm, corev1.VolumeMount{Name: "envoy-config", MountPath: "/etc/envoy", ReadOnly: true})
			}) {
				t.Errorf("%s mounts %+v, want envoy-config at /etc/envoy read-only", sidecar.Name, sidecar.VolumeMounts)
			}
		})
	}
}

// TestRoutesMount: an agent with spec.auth.outbound reads its own routes ConfigMap
// (rendered from Git, so not optional), in every sidecar data plane, where the others read
// the namespace's optional authproxy-routes.
func TestRoutesMount(t *testing.T) {
	own := &agentv1.AgentAuth{Outbound: []agentv1.OutboundRoute{{Destination: agentv1.RouteDestination{Host: "tool.team-b"}, Audiences: []string{"tool"}}}}
	for _, c := range []struct {
		name     string
		spec     agentv1.AgentRuntimeSpec
		want     string
		optional bool
	}{
		{name: "proxy-sidecar", want: "authproxy-routes", optional: true},
		{name: "proxy-sidecar, own routes", spec: agentv1.AgentRuntimeSpec{Auth: own}, want: "authbridge-routes-weather"},
		{name: "lite, own routes", spec: agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeLite, Auth: own}, want: "authbridge-routes-weather"},
		{name: "envoy-sidecar, own routes", spec: agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar, Auth: own}, want: "authbridge-routes-weather"},
		{name: "an empty auth", spec: agentv1.AgentRuntimeSpec{Auth: &agentv1.AgentAuth{}}, want: "authproxy-routes", optional: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMutator(&fakeCluster{runtime: runtimeFor("Deployment", "weather", c.spec)})
			pod := testPod(nil)
			d, err := m.Mutate(context.Background(), pod)
			if err != nil {
				t.Fatal(err)
			}
			checkAdmitted(t, m, testPod(nil), pod, d)
			i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "authproxy-routes" })
			if i < 0 || pod.Spec.Volumes[i].ConfigMap == nil {
				t.Fatalf("no authproxy-routes ConfigMap volume: %+v", pod.Spec.Volumes)
			}
			cm := pod.Spec.Volumes[i].ConfigMap
			if cm.Name != c.want || (cm.Optional != nil && *cm.Optional) != c.optional {
				t.Errorf("routes volume %+v, want ConfigMap %s, optional %v", cm, c.want, c.optional)
			}
			sidecar := pod.Spec.Containers[len(pod.Spec.Containers)-1]
			if !slices.ContainsFunc(sidecar.VolumeMounts, func(vm corev1.VolumeMount) bool {
				return equality.Semantic.DeepEqual(vm, corev1.VolumeMount{Name: "authproxy-routes", MountPath: "/etc/authproxy", ReadOnly: true})
			}) {
				t.Errorf("%s mounts %+v, want the routes at /etc/authproxy read-only", sidecar.Name, sidecar.VolumeMounts)
			}
		})
	}
}
