package authbridge

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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
