package v1alpha1

// Labels of the wire protocol that do not contain the family's name; those that do are
// methods of Family.
const (

	// LabelIstioDataplaneMode enrols a namespace in Istio ambient.
	LabelIstioDataplaneMode = "istio.io/dataplane-mode"
	// LabelIstioDiscovery makes istiod discover a namespace.
	LabelIstioDiscovery = "istio-discovery"
)

// ConfigMaps and their keys.
const (
	// ConfigMapAuthBridgeConfig holds env-style Keycloak settings per namespace.
	ConfigMapAuthBridgeConfig = "authbridge-config"
	// ConfigMapAuthBridgeRuntimeConfig holds the namespace AuthBridge defaults (key config.yaml).
	ConfigMapAuthBridgeRuntimeConfig = "authbridge-runtime-config"
	// ConfigMapAgentConfigPrefix prefixes the per-agent AuthBridge config (key config.yaml).
	ConfigMapAgentConfigPrefix = "authbridge-config-"
	// ConfigMapSpiffeHelperConfig holds spiffe-helper's helper.conf.
	ConfigMapSpiffeHelperConfig = "spiffe-helper-config"
	// ConfigMapAuthProxyRoutes holds outbound token-exchange routes (key routes.yaml).
	ConfigMapAuthProxyRoutes = "authproxy-routes"
	// ConfigMapAgentRoutesPrefix prefixes an agent's own routes, from its
	// spec.auth.outbound (key routes.yaml), upstream's name for them.
	ConfigMapAgentRoutesPrefix = "authbridge-routes-"

	KeyConfigYAML       = "config.yaml"
	KeyHelperConf       = "helper.conf"
	KeyFeatureGatesYAML = "feature-gates.yaml"
	KeyRoutesYAML       = "routes.yaml"
)

// Condition types of AgentRuntime.
const (
	ConditionTargetResolved    = "TargetResolved"
	ConditionConfigResolved    = "ConfigResolved"
	ConditionIstioMeshEnrolled = "IstioMeshEnrolled"
	ConditionMTLSReady         = "MTLSReady"
	ConditionReady             = "Ready"
	// ConditionClientRegistered says whether the agent's Keycloak client and credentials
	// Secret are in place (trustsync's Keycloak controller).
	ConditionClientRegistered = "ClientRegistered"
)
