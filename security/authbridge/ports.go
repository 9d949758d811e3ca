package authbridge

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Ports of the proxy-sidecar data plane.
const (
	// DefaultAgentPort is assumed when the agent declares no port.
	DefaultAgentPort int32 = 8000
	// FirstForwardPort is where the search for the forward proxy's port starts.
	FirstForwardPort int32 = 8081
	// TransparentPort receives egress that bypassed HTTP_PROXY (proxy-init redirects it).
	TransparentPort int32 = 8082
	// TransparentInboundPort receives redirected inbound traffic.
	TransparentInboundPort int32 = 8083
	// HealthPort, StatsPort and SessionPort are the sidecar's own endpoints.
	HealthPort  int32 = 9091
	StatsPort   int32 = 9093
	SessionPort int32 = 9094
)

// reservedPorts are used by the sidecar itself and never given to the agent or the
// forward proxy.
var reservedPorts = []int32{TransparentPort, TransparentInboundPort, HealthPort, StatsPort, SessionPort}

// SidecarContainers are the names of the containers AuthBridge injects.
var SidecarContainers = []string{"authbridge-proxy", "envoy-proxy", "spiffe-helper", "kagenti-client-registration"}

// PortPlan says how the proxy-sidecar takes over the agent's port.
type PortPlan struct {
	// AgentContainer is the container whose first port the sidecar takes over; empty when
	// no container declares a port.
	AgentContainer string
	// AgentPort is the port callers use; the sidecar's reverse proxy listens on it.
	AgentPort int32
	// BackendPort is where the agent container moves; it gets PORT=<BackendPort>.
	BackendPort int32
	// ForwardPort is the forward proxy the agent's HTTP_PROXY points at.
	ForwardPort int32
}

// PlanPorts works out the port plan of a pod: the first port of the first application
// container is taken over, the agent moves to the next free port above it, and the
// forward proxy takes the first free port from 8081. Free means declared by no container
// and not reserved by the sidecar.
func PlanPorts(spec *corev1.PodSpec) PortPlan {
	var used []int32
	plan := PortPlan{AgentPort: DefaultAgentPort}
	found := false
	for _, c := range spec.Containers {
		if slices.Contains(SidecarContainers, c.Name) {
			continue
		}
		for _, p := range c.Ports {
			used = append(used, p.ContainerPort)
		}
		if !found && len(c.Ports) > 0 {
			plan.AgentContainer = c.Name
			plan.AgentPort = c.Ports[0].ContainerPort
			found = true
		}
	}
	used = append(used, plan.AgentPort)
	free := func(from int32) int32 {
		for p := from; ; p++ {
			if !slices.Contains(used, p) && !slices.Contains(reservedPorts, p) {
				used = append(used, p)
				return p
			}
		}
	}
	plan.BackendPort = free(plan.AgentPort + 1)
	plan.ForwardPort = free(FirstForwardPort)
	return plan
}
