package v1alpha1

// Labels of the Kagenti wire protocol.
const (
	// LabelType marks a workload and its pods as agent or tool.
	LabelType = "kagenti.io/type"
	// LabelInject set to "disabled" opts a pod out of AuthBridge injection.
	LabelInject = "kagenti.io/inject"
	// LabelEnvoyProxyInject set to "false" opts a pod out of the Envoy sidecar.
	LabelEnvoyProxyInject = "kagenti.io/envoy-proxy-inject"
	// LabelSpiffeHelperInject set to "false" opts a pod out of SPIRE.
	LabelSpiffeHelperInject = "kagenti.io/spiffe-helper-inject"
	// LabelClientRegistrationInject set to "true" asks for the legacy registration sidecar.
	LabelClientRegistrationInject = "kagenti.io/client-registration-inject"
	// LabelEnabledNamespace on a namespace lets the webhook inject into its pods.
	LabelEnabledNamespace = "kagenti-enabled"
	// LabelDefaults marks a namespace-defaults ConfigMap.
	LabelDefaults = "kagenti.io/defaults"
	// LabelProtocolPrefix prefixes labels naming the protocols an agent speaks.
	LabelProtocolPrefix = "protocol.kagenti.io/"
	// LabelSignatureVerified marks an agent whose card signature verified.
	LabelSignatureVerified = "agent.kagenti.dev/signature-verified"

	// LabelIstioDataplaneMode enrols a namespace in Istio ambient.
	LabelIstioDataplaneMode = "istio.io/dataplane-mode"
	// LabelIstioDiscovery makes istiod discover a namespace.
	LabelIstioDiscovery = "istio-discovery"
)

// Annotations of the Kagenti wire protocol.
const (
	// AnnotationConfigHash on the pod template rolls pods when their configuration changes.
	AnnotationConfigHash = "kagenti.io/config-hash"
	// AnnotationMTLSMode on the pod template carries the effective mTLS mode.
	AnnotationMTLSMode = "kagenti.io/mtls-mode"
	// AnnotationSkills on a workload lists its skills.
	AnnotationSkills = "kagenti.io/skills"
	// AnnotationAuthBridgeMode is the deprecated per-pod mode selector.
	AnnotationAuthBridgeMode = "kagenti.io/authbridge-mode"
	// AnnotationClientCredentialsSecret names the Keycloak credentials Secret of the pod.
	AnnotationClientCredentialsSecret = "kagenti.io/keycloak-client-credentials-secret-name"
	// AnnotationOutboundPortsExclude lists ports proxy-init must not redirect outbound.
	AnnotationOutboundPortsExclude = "kagenti.io/outbound-ports-exclude"
	// AnnotationInboundPortsExclude lists ports proxy-init must not redirect inbound.
	AnnotationInboundPortsExclude = "kagenti.io/inbound-ports-exclude"
	// AnnotationIstioMesh set to "disabled" on a namespace opts it out of Istio ambient.
	AnnotationIstioMesh = "kagenti.io/istio-mesh"
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
	// ConfigMapFeatureGates holds the platform feature gates (key feature-gates.yaml).
	ConfigMapFeatureGates = "kagenti-feature-gates"
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
