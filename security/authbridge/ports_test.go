package authbridge

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func TestPlanPorts(t *testing.T) {
	c := func(name string, ports ...int32) corev1.Container {
		out := corev1.Container{Name: name}
		for _, p := range ports {
			out.Ports = append(out.Ports, corev1.ContainerPort{ContainerPort: p})
		}
		return out
	}
	tests := []struct {
		name       string
		containers []corev1.Container
		want       PortPlan
	}{
		{"no ports", []corev1.Container{c("agent")}, PortPlan{AgentPort: 8000, BackendPort: 8001, ForwardPort: 8081}},
		{"one port", []corev1.Container{c("agent", 8080)}, PortPlan{AgentContainer: "agent", AgentPort: 8080, BackendPort: 8081, ForwardPort: 8084}},
		{"first container with a port wins", []corev1.Container{c("init"), c("agent", 9000), c("side", 9001)}, PortPlan{AgentContainer: "agent", AgentPort: 9000, BackendPort: 9002, ForwardPort: 8081}},
		{"collision with the forward proxy range", []corev1.Container{c("agent", 8081, 8084)}, PortPlan{AgentContainer: "agent", AgentPort: 8081, BackendPort: 8085, ForwardPort: 8086}},
		{"backend skips reserved ports", []corev1.Container{c("agent", 9090)}, PortPlan{AgentContainer: "agent", AgentPort: 9090, BackendPort: 9092, ForwardPort: 8081}},
		{"injected sidecars are ignored", []corev1.Container{c("authbridge-proxy", 8000), c("agent", 7000)}, PortPlan{AgentContainer: "agent", AgentPort: 7000, BackendPort: 7001, ForwardPort: 8081}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlanPorts(&corev1.PodSpec{Containers: tt.containers}); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckPorts(t *testing.T) {
	spec := func(ports ...int32) *corev1.PodSpec {
		c := corev1.Container{Name: "agent"}
		for _, p := range ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: p})
		}
		return &corev1.PodSpec{Containers: []corev1.Container{{Name: "authbridge-proxy", Ports: []corev1.ContainerPort{{ContainerPort: 9091}}}, c}}
	}
	tests := []struct {
		name  string
		spec  *corev1.PodSpec
		mode  agentv1.AuthBridgeMode
		field string // "" = no conflict
	}{
		{"free ports", spec(8000, 8081), agentv1.AuthBridgeProxySidecar, ""},
		{"health port", spec(8000, 9091), agentv1.AuthBridgeProxySidecar, "containers[1].ports[1]"},
		{"transparent port in lite", spec(8082), agentv1.AuthBridgeLite, "containers[1].ports[0]"},
		{"9090 is free for the proxy", spec(9090), agentv1.AuthBridgeProxySidecar, ""},
		{"9090 is envoy's ext-proc", spec(9090), agentv1.AuthBridgeEnvoySidecar, "containers[1].ports[0]"},
		{"waypoint needs no port", spec(9091, 15123), agentv1.AuthBridgeWaypoint, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckPorts(tt.spec, tt.mode)
			switch {
			case tt.field == "" && got != nil:
				t.Fatalf("unexpected conflict: %v", got)
			case tt.field != "" && (got == nil || got.Field != tt.field):
				t.Fatalf("got %v, want a conflict at %s", got, tt.field)
			}
		})
	}
}
