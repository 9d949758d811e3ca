package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Platform is the engine's configuration: one file, read at start. It is not a CRD; the
// renderer writes what the webhook and the sidecars need of it into the ConfigMaps they
// read (kagenti-feature-gates, and per agent namespace authbridge-config,
// authbridge-runtime-config and spiffe-helper-config).
//
//	apiVersion: gitops.trustsync.dev/v1alpha1
//	kind: Platform
//	trustDomain: example.org
//	keycloak: {url: http://keycloak.keycloak.svc:8080, realm: agents}
//	featureGates: {globalEnabled: true, injectTools: false}
//	authbridgeConfig: {enabled: true}
//	spire: {enabled: true}
type Platform struct {
	metav1.TypeMeta `json:",inline"`

	// Namespace trustsync runs in. Global-scope AuthorizationPolicies are honoured only
	// here, and the cluster-wide ConfigMaps (feature gates) are written here.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Families are the spellings of the Kagenti API trustsync reads: kagenti
	// (agent.kagenti.dev, kagenti.io/*) and rossoctl (agent.rossoctl.dev, rossoctl.io/*,
	// Kagenti's name since July 2026); default [kagenti]. An object or label of a family
	// not listed is an error, never ignored.
	// +optional
	Families []string `json:"families,omitempty"`

	// TrustDomain of the SPIFFE IDs spiffe://<trustDomain>/ns/<ns>/sa/<sa>.
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`

	// Keycloak that registers agents as OAuth2 clients and issues their tokens.
	// +optional
	Keycloak KeycloakConfig `json:"keycloak,omitempty"`

	// FeatureGates of the AuthBridge webhook, mirrored into kagenti-feature-gates.
	// +optional
	FeatureGates FeatureGates `json:"featureGates,omitempty"`

	// Injection says which pods are agents.
	// +optional
	Injection InjectionConfig `json:"injection,omitempty"`

	// AuthbridgeConfig controls the namespace ConfigMap authbridge-config.
	// +optional
	AuthbridgeConfig AuthbridgeConfig `json:"authbridgeConfig,omitempty"`

	// SPIRE workload identity.
	// +optional
	Spire SpireConfig `json:"spire,omitempty"`

	// Kuadrant for Istio ambient gateways.
	// +optional
	Kuadrant KuadrantConfig `json:"kuadrant,omitempty"`

	// Mesh trust between Istio and the agents.
	// +optional
	Mesh MeshConfig `json:"mesh,omitempty"`

	// Images of the injected containers.
	// +optional
	Images Images `json:"images,omitempty"`

	// Defaults for agents whose AgentRuntime and namespace leave a setting open.
	// +optional
	Defaults AgentDefaults `json:"defaults,omitempty"`

	// Policy plane settings.
	// +optional
	Policy PolicyConfig `json:"policy,omitempty"`

	// Kustomize build settings.
	// +optional
	Kustomize KustomizeConfig `json:"kustomize,omitempty"`

	// Limits bound what one revision may cost to render and check. Git content is
	// untrusted input (a fork's pull request is previewed too), so every dimension has a
	// bound with a safe default.
	// +optional
	Limits Limits `json:"limits,omitempty"`
}

// KeycloakConfig locates Keycloak.
type KeycloakConfig struct {
	// URL the sidecars and trustsync reach Keycloak at (in-cluster).
	// +optional
	URL string `json:"url,omitempty"`
	// PublicURL is the issuer base URL tokens carry; URL when empty.
	// +optional
	PublicURL string `json:"publicURL,omitempty"`
	// Realm agents are registered in.
	// +optional
	Realm string `json:"realm,omitempty"`
	// Namespace Keycloak runs in.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// ClientAuthType is client-secret or federated-jwt (the agent authenticates with its
	// JWT-SVID).
	// +optional
	ClientAuthType string `json:"clientAuthType,omitempty"`
	// SPIFFEIDPAlias is the Keycloak identity provider that trusts SPIRE JWT-SVIDs.
	// +optional
	SPIFFEIDPAlias string `json:"spiffeIdpAlias,omitempty"`
	// TokenExchange enables RFC 8693 token exchange on agent clients.
	// +optional
	TokenExchange *bool `json:"tokenExchange,omitempty"`
}

// InjectionConfig says which pods are agents.
type InjectionConfig struct {
	// RequireAgentRuntime refuses label-only enrolment: a workload whose pods are
	// labelled kagenti.io/type agent or tool, in an enabled namespace, with no
	// AgentRuntime targeting it. Off, such a workload is an agent with its namespace's
	// defaults, as Kagenti has it; on, it is a render error and its pods are refused.
	// +optional
	RequireAgentRuntime bool `json:"requireAgentRuntime,omitempty"`
}

// FeatureGates of the AuthBridge webhook.
type FeatureGates struct {
	// GlobalEnabled is the kill switch of all injection.
	// +optional
	GlobalEnabled *bool `json:"globalEnabled,omitempty"`
	// InjectTools extends injection and client registration to tools.
	// +optional
	InjectTools bool `json:"injectTools,omitempty"`
	// EnvoyProxy allows the envoy-sidecar mode.
	// +optional
	EnvoyProxy *bool `json:"envoyProxy,omitempty"`
	// ClientRegistration registers agents as Keycloak clients.
	// +optional
	ClientRegistration *bool `json:"clientRegistration,omitempty"`
}

// AuthbridgeConfig controls the namespace ConfigMap authbridge-config.
type AuthbridgeConfig struct {
	// Enabled writes authbridge-config (Keycloak URL, realm, issuer, audiences) into every
	// agent namespace.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// SpireConfig describes SPIRE.
type SpireConfig struct {
	// Enabled says SPIRE is part of the platform: agents get a ClusterSPIFFEID and their
	// pods the SPIFFE CSI socket. The webhook still checks that SPIRE is really present
	// before mounting the socket.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// SocketPath is the Workload API socket inside the pods.
	// +optional
	SocketPath string `json:"socketPath,omitempty"`
	// ClassName of the spire-controller-manager that should pick up the ClusterSPIFFEIDs.
	// +optional
	ClassName string `json:"className,omitempty"`
	// AllowUserClusterSPIFFEIDs lets a repository bring its own ClusterSPIFFEIDs. Off by
	// default: identities are trustsync's to generate, and a ClusterSPIFFEID in Git is
	// refused. When on, each one must select pods of, and name ServiceAccounts in, only
	// the namespaces of its own revision.
	// +optional
	AllowUserClusterSPIFFEIDs bool `json:"allowUserClusterSPIFFEIDs,omitempty"`
	// TrustBundleNamespace holds the ConfigMap spire-bundle (key bundle.spiffe) SPIRE
	// publishes its trust bundle in; AgentCard signatures are checked against it.
	// zero-trust-workload-identity-manager when empty, as in Kagenti.
	// +optional
	TrustBundleNamespace string `json:"trustBundleNamespace,omitempty"`
}

// KuadrantConfig controls the Kuadrant CR.
type KuadrantConfig struct {
	// Enabled renders the Kuadrant CR named kuadrant in kuadrant-system.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// MeshConfig controls the Istio mesh's certificate authority.
type MeshConfig struct {
	// SharedTrust builds istiod's cacerts Secret from the cert-manager mesh root and
	// intermediates (istio-mesh-root-ca-secret, istio-cacerts-default-cert), verifies the
	// chain, and rolls istiod and ztunnel when it changes.
	// +optional
	SharedTrust bool `json:"sharedTrust,omitempty"`
}

// Images of the injected containers.
type Images struct {
	// +optional
	AuthBridge string `json:"authbridge,omitempty"`
	// +optional
	AuthBridgeLite string `json:"authbridgeLite,omitempty"`
	// +optional
	AuthBridgeEnvoy string `json:"authbridgeEnvoy,omitempty"`
	// +optional
	ProxyInit string `json:"proxyInit,omitempty"`
	// +optional
	ClientRegistration string `json:"clientRegistration,omitempty"`
}

// AgentDefaults apply where neither the AgentRuntime nor the namespace decides.
type AgentDefaults struct {
	// AuthBridgeMode default; proxy-sidecar when empty.
	// +optional
	AuthBridgeMode string `json:"authBridgeMode,omitempty"`
	// EgressEnforcement default; enforce-redirect when empty.
	// +optional
	EgressEnforcement string `json:"egressEnforcement,omitempty"`
	// AllowedEgressEnforcement limits the modes agents may use; a mode not in the list is
	// replaced by the first entry (e.g. [none] on clusters without iptables).
	// +optional
	AllowedEgressEnforcement []string `json:"allowedEgressEnforcement,omitempty"`
}

// PolicyConfig configures the policy plane.
type PolicyConfig struct {
	// RequireClientPolicy denies identities that have no client-scope policy.
	// +optional
	RequireClientPolicy bool `json:"requireClientPolicy,omitempty"`
}

// KustomizeConfig configures builds.
type KustomizeConfig struct {
	// AllowRemoteBases is refused when true: a render reads only the revision's own
	// tree, never the network. Vendor remote bases into the repository instead.
	// +optional
	AllowRemoteBases bool `json:"allowRemoteBases,omitempty"`
}

// Limits bound a render. A revision that exceeds one fails with an error naming the
// limit and the file; the last good revision stays applied.
type Limits struct {
	// FileSize bounds one file of the tree. Default 4Mi.
	// +optional
	FileSize *resource.Quantity `json:"fileSize,omitempty"`
	// RevisionSize bounds the bytes of all the files one render reads. Default 128Mi.
	// +optional
	RevisionSize *resource.Quantity `json:"revisionSize,omitempty"`
	// Files bounds the files and directories one render visits. Default 20000.
	// +optional
	Files int `json:"files,omitempty"`
	// Objects bounds the objects a revision's build yields, before expansion. Default 20000.
	// +optional
	Objects int `json:"objects,omitempty"`
	// ObjectsPerBuild bounds the objects of one kustomize build — a kustomization that
	// transforms what it lists (a plain list of resources is read without kustomize).
	// kustomize's cost grows with the square of this number. Default 5000.
	// +optional
	ObjectsPerBuild int `json:"objectsPerBuild,omitempty"`
	// YAMLDepth bounds the nesting of a YAML document. Default 100.
	// +optional
	YAMLDepth int `json:"yamlDepth,omitempty"`
	// YAMLNodes bounds the nodes of one YAML file with its aliases expanded (an alias bomb
	// is small on disk and huge in memory). Default 1000000.
	// +optional
	YAMLNodes int `json:"yamlNodes,omitempty"`
	// SymlinkHops bounds the symbolic links followed to resolve one path. Default 40.
	// +optional
	SymlinkHops int `json:"symlinkHops,omitempty"`
	// RenderTimeout bounds one render, the kustomize build and the policy checks
	// included. Default 2m.
	// +optional
	RenderTimeout *metav1.Duration `json:"renderTimeout,omitempty"`
	// PolicySize bounds the Rego of one AuthorizationPolicy (all its files). Default 256Ki.
	// The admission webhook applies the same bound.
	// +optional
	PolicySize *resource.Quantity `json:"policySize,omitempty"`
	// PolicyRules bounds the rules of one AuthorizationPolicy. Default 2000.
	// +optional
	PolicyRules int `json:"policyRules,omitempty"`
	// RegoTimeout bounds one Rego evaluation: a decision or one test. Default 1s.
	// +optional
	RegoTimeout *metav1.Duration `json:"regoTimeout,omitempty"`
	// RegoMemory bounds the memory one Rego evaluation may allocate. Default 64Mi.
	// +optional
	RegoMemory *resource.Quantity `json:"regoMemory,omitempty"`
	// RegoTestsTimeout bounds all the Rego tests of one revision. Default 60s.
	// +optional
	RegoTestsTimeout *metav1.Duration `json:"regoTestsTimeout,omitempty"`
}
