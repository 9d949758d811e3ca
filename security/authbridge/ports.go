package authbridge

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
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

// sidecarPorts are the ports each mode's sidecar listens on besides the agent's port and
// the forward proxy's, which the port plan works around.
var sidecarPorts = map[agentv1.AuthBridgeMode]map[int32]string{
	agentv1.AuthBridgeProxySidecar: proxyPorts,
	agentv1.AuthBridgeLite:         proxyPorts,
	agentv1.AuthBridgeEnvoySidecar: {envoyOutboundPort: "envoy-outbound", envoyInboundPort: "envoy-inbound", envoyAdminPort: "envoy-admin", extProcPort: "ext-proc"},
}

var proxyPorts = map[int32]string{TransparentPort: "transparent egress", TransparentInboundPort: "transparent ingress", HealthPort: "health", StatsPort: "stats", SessionPort: "session"}

// PortConflict is an application port a sidecar needs for itself.
type PortConflict struct {
	// Field is the port's path in the pod spec, e.g. containers[0].ports[1].
	Field     string
	Container string
	Port      int32
	Mode      agentv1.AuthBridgeMode
	Use       string
}

func (e *PortConflict) Error() string {
	return fmt.Sprintf("port %d of container %q is the %s sidecar's %s port; move the container to another port", e.Port, e.Container, e.Mode, e.Use)
}

// CheckPorts reports an application port the mode's sidecar needs for itself: both
// would share the pod's network namespace, and one of them would fail to bind.
func CheckPorts(spec *corev1.PodSpec, mode agentv1.AuthBridgeMode) *PortConflict {
	taken := sidecarPorts[mode]
	for i, c := range spec.Containers {
		if slices.Contains(SidecarContainers, c.Name) {
			continue
		}
		for j, p := range c.Ports {
			if use, ok := taken[p.ContainerPort]; ok {
				return &PortConflict{Field: fmt.Sprintf("containers[%d].ports[%d]", i, j), Container: c.Name, Port: p.ContainerPort, Mode: mode, Use: use}
			}
		}
	}
	return nil
}

// SidecarContainers are the names of the containers AuthBridge injects.
var SidecarContainers = []string{"authbridge-proxy", "envoy-proxy", "spiffe-helper", "kagenti-client-registration"}

// PortPlan says how the proxy-sidecar takes over the agent's port.
type PortPlan struct {
	// AgentContainer is the container whose first port the sidecar takes over; empty when
	// no container declares a port.
	AgentContainer string
	// AgentPort is the port callers use; the sidecar's reverse proxy listens on it.
	AgentPort int32
	// AgentPortName is the agent port's name, empty when unnamed. The sidecar's port
	// takes it over, so Services that target the port by name reach the proxy.
	AgentPortName string
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
			plan.AgentPortName = c.Ports[0].Name
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
