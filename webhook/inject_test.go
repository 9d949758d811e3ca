package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
)

func jsonPatchAdd(path string, v any) jsonpatch.JsonPatchOperation {
	return jsonpatch.JsonPatchOperation{Operation: "add", Path: path, Value: v}
}

// agentContainer is a typical agent: one named port with a readiness probe on it.
func agentContainer() corev1.Container {
	return corev1.Container{
		Name:  "agent",
		Image: "example/agent:1",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}},
		Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")},
		}},
	}
}

const allGatesOn = "globalEnabled: true\nenvoyProxy: true\ninjectTools: true\nclientRegistration: true\n"

// TestInjection is the injection matrix: every mode, gate, opt-out and SPIRE
// present/absent combination, through the real API server, compared with golden pods.
func TestInjection(t *testing.T) {
	type tc struct {
		name        string
		gates       string // kagenti-feature-gates; "" = absent, so the platform's apply
		gatesLater  bool   // set the gates after the AgentRuntime, which they would refuse
		spire       bool
		typ         string
		runtime     *agentv1.AgentRuntimeSpec // nil: no AgentRuntime targets the pod
		nsRuntime   string                    // authbridge-runtime-config config.yaml
		labels      map[string]string
		annotations map[string]string
		containers  []corev1.Container
		volumes     []corev1.Volume // the pod's own
		addLogger   bool            // a later webhook adds a container; trustsync's is reinvoked
		denied      string
		warning     string
		unchanged   bool // admitted exactly as sent
	}
	agent := []corev1.Container{agentContainer()}
	cases := []tc{
		{name: "proxy-sidecar", spire: true, runtime: &agentv1.AgentRuntimeSpec{}},
		{name: "proxy-sidecar-no-spire", runtime: &agentv1.AgentRuntimeSpec{}, warning: "SPIRE is not installed"},
		{name: "proxy-sidecar-egress-none", spire: true, runtime: &agentv1.AgentRuntimeSpec{EgressEnforcement: agentv1.EgressNone}},
		{name: "lite", spire: true, runtime: &agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeLite}},
		{name: "envoy-sidecar", spire: true, runtime: &agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar},
			annotations: map[string]string{agentv1.Kagenti.AnnotationOutboundPortsExclude(): "5432", agentv1.Kagenti.AnnotationInboundPortsExclude(): "9100"}},
		{name: "waypoint", spire: true, runtime: &agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeWaypoint}, unchanged: true},
		{name: "tls-bridge", spire: true, runtime: &agentv1.AgentRuntimeSpec{TLSBridgeMode: agentv1.TLSBridgeEnabled}},
		{name: "namespace-default-mode", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, nsRuntime: "mode: lite\n"},
		{name: "global-kill-switch", gates: "globalEnabled: false\n", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, unchanged: true},
		{name: "opt-out", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, labels: map[string]string{agentv1.Kagenti.LabelInject(): "disabled"}, unchanged: true},
		{name: "spire-opt-out", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, labels: map[string]string{agentv1.Kagenti.LabelSpiffeHelperInject(): "false"}},
		{name: "envoy-opt-out", spire: true, runtime: &agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar},
			labels: map[string]string{agentv1.Kagenti.LabelEnvoyProxyInject(): "false"}, unchanged: true},
		{name: "envoy-gate-off", gates: "envoyProxy: false\n", gatesLater: true, spire: true, runtime: &agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeEnvoySidecar},
			denied: "envoy-sidecar is switched off by the platform feature gate envoyProxy"},
		{name: "tool-not-injected", spire: true, typ: "tool", runtime: &agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool}, unchanged: true},
		{name: "tool-injected", gates: allGatesOn, spire: true, typ: "tool", runtime: &agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool}},
		{name: "no-ports", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, containers: []corev1.Container{{Name: "agent", Image: "example/agent:1"}}},
		{name: "forward-port-taken", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, containers: []corev1.Container{
			{Name: "agent", Image: "example/agent:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 8081}}},
			{Name: "metrics", Image: "example/exporter:1", Ports: []corev1.ContainerPort{{ContainerPort: 8084}}}}},
		{name: "reserved-port", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, containers: []corev1.Container{
			{Name: "agent", Image: "example/agent:1", Ports: []corev1.ContainerPort{{ContainerPort: 8000}, {ContainerPort: authbridge.HealthPort}}}},
			denied: `spec.containers[0].ports[1]: port 9091 of container "agent" is the proxy-sidecar sidecar's health port`},
		{name: "strict-without-spire", runtime: &agentv1.AgentRuntimeSpec{MTLSMode: agentv1.MTLSStrict},
			denied: "mtlsMode strict needs an X.509-SVID, but SPIRE is not installed"},
		{name: "no-agentruntime", spire: true, denied: "no AgentRuntime in namespace"},
		{name: "reinvocation", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, addLogger: true},
		// The pod brings shared-data and the SPIFFE socket, as upstream's demos do: the
		// sidecar mounts them, and a second webhook's reinvocation adds nothing.
		{name: "own-volumes", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, addLogger: true, volumes: []corev1.Volume{
			{Name: "shared-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			{Name: "spire-agent-socket", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "csi.spiffe.io", ReadOnly: ptr.To(true)}}},
		}},
		{name: "own-volume-incompatible", spire: true, runtime: &agentv1.AgentRuntimeSpec{}, volumes: []corev1.Volume{
			{Name: "spire-agent-socket", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/spire/agent-sockets"}}},
		}, denied: `spec.volumes[0]: volume "spire-agent-socket" is a hostPath volume; it must be the SPIFFE CSI driver's`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if !c.gatesLater {
				setGates(t, c.gates)
			}
			setSPIRE(t, c.spire)
			ns := fmt.Sprintf("inject-%02d", i)
			createNamespace(t, ns)
			if c.nsRuntime != "" {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agentv1.ConfigMapAuthBridgeRuntimeConfig},
					Data: map[string]string{agentv1.KeyConfigYAML: c.nsRuntime}}
				if err := env.Client.Create(ctx, cm); err != nil {
					t.Fatal(err)
				}
				waitCached(t, cm, cm.ResourceVersion)
			}
			if c.runtime != nil {
				createRuntime(t, ns, "weather", *c.runtime)
			}
			if c.gatesLater {
				setGates(t, c.gates)
			}
			typ, containers := c.typ, c.containers
			if typ == "" {
				typ = "agent"
			}
			if containers == nil {
				containers = agent
			}
			pod := agentPod(ns, "weather", typ, containers)
			for k, v := range c.labels {
				pod.Labels[k] = v
			}
			if c.addLogger {
				pod.Labels["test.trustsync.dev/add-container"] = "true"
			}
			pod.Annotations = c.annotations
			pod.Spec.Volumes = c.volumes
			sent := pod.Spec.DeepCopy()

			cl, warned := clientWithWarnings(t)
			err := cl.Create(ctx, pod)
			if c.denied != "" {
				if err == nil || !strings.Contains(err.Error(), c.denied) {
					t.Fatalf("creating the pod: %v, want a denial containing %q", err, c.denied)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warning != "" && !slices.ContainsFunc(warned.list, func(w string) bool { return strings.Contains(w, c.warning) }) {
				t.Errorf("warnings %q, want one containing %q", warned.list, c.warning)
			}
			live := &corev1.Pod{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), live); err != nil {
				t.Fatal(err)
			}
			if c.unchanged {
				if len(live.Spec.Containers) != len(sent.Containers) || len(live.Spec.InitContainers) != 0 || len(live.Spec.Volumes) != len(sent.Volumes) {
					t.Errorf("pod was changed: %d containers, %d init containers, %d volumes", len(live.Spec.Containers), len(live.Spec.InitContainers), len(live.Spec.Volumes))
				}
				return
			}
			compareGolden(t, c.name, live)
		})
	}
	setGates(t, "")
	setSPIRE(t, false)
}
