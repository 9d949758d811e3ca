package v1alpha1

import (
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Family is one spelling of the Kagenti wire protocol: the project was renamed Rossoctl
// in July 2026 (kagenti/kagenti#2230), which renamed its API group, label and annotation
// domain, platform namespace and Keycloak realm and nothing else. The kinds, their
// fields and their meaning are the same, so trustsync reads both with one code path and
// the family as data: every wire name that contains the family's name is a method here.
// A value of plain strings, compared with ==; not an API type, so no deepcopy.
//
// +kubebuilder:object:generate=false
type Family struct {
	// Name is the family's name in the Platform file's families: kagenti, rossoctl.
	Name string
	// Title is the project's name in messages.
	Title string
	// Group is the API group of AgentRuntime, AuthorizationPolicy and AgentCard.
	Group string
	// Domain prefixes the labels and annotations: kagenti.io/type.
	Domain string
	// Namespace is the platform namespace of the project's own installation.
	Namespace string
	// Realm is the project's Keycloak realm.
	Realm string
}

var (
	// Kagenti is the family of the Kagenti operator, before the rename.
	Kagenti = Family{Name: "kagenti", Title: "Kagenti", Group: "agent.kagenti.dev", Domain: "kagenti.io", Namespace: "kagenti-system", Realm: "kagenti"}
	// Rossoctl is Kagenti's name since July 2026 (rossoctl/operator).
	Rossoctl = Family{Name: "rossoctl", Title: "Rossoctl", Group: "agent.rossoctl.dev", Domain: "rossoctl.io", Namespace: "rossoctl-system", Realm: "rossoctl"}

	// Families are every family trustsync reads, Kagenti first.
	Families = []Family{Kagenti, Rossoctl}
)

// FamilyOf is the family whose API group is group.
func FamilyOf(group string) (Family, bool) {
	i := slices.IndexFunc(Families, func(f Family) bool { return f.Group == group })
	if i < 0 {
		return Family{}, false
	}
	return Families[i], true
}

// FamilyByName is the family of the given name (kagenti, rossoctl).
func FamilyByName(name string) (Family, bool) {
	i := slices.IndexFunc(Families, func(f Family) bool { return f.Name == name })
	if i < 0 {
		return Family{}, false
	}
	return Families[i], true
}

// FamilyNames are the names of every family, for messages.
func FamilyNames() []string {
	names := make([]string, len(Families))
	for i, f := range Families {
		names[i] = f.Name
	}
	return names
}

// FamiliesOfLabels are the families whose type label is among labels, in Families'
// order: none for a pod that is no agent, two for one that says it twice.
func FamiliesOfLabels(labels map[string]string) []Family {
	var out []Family
	for _, f := range Families {
		if _, ok := labels[f.LabelType()]; ok {
			out = append(out, f)
		}
	}
	return out
}

// GroupVersion is the family's group at version v1alpha1.
func (f Family) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: f.Group, Version: GroupVersion.Version}
}

// APIVersion is the apiVersion of the family's objects.
func (f Family) APIVersion() string { return f.GroupVersion().String() }

func (f Family) label(name string) string { return f.Domain + "/" + name }

// LabelType marks a workload and its pods as agent or tool.
func (f Family) LabelType() string { return f.label("type") }

// LabelInject set to "disabled" opts a pod out of AuthBridge injection.
func (f Family) LabelInject() string { return f.label("inject") }

// LabelEnvoyProxyInject set to "false" opts a pod out of the Envoy sidecar.
func (f Family) LabelEnvoyProxyInject() string { return f.label("envoy-proxy-inject") }

// LabelSpiffeHelperInject set to "false" opts a pod out of SPIRE.
func (f Family) LabelSpiffeHelperInject() string { return f.label("spiffe-helper-inject") }

// LabelClientRegistrationInject set to "true" asks for the legacy registration sidecar.
func (f Family) LabelClientRegistrationInject() string {
	return f.label("client-registration-inject")
}

// LabelEnabledNamespace on a namespace lets the webhook inject into its pods:
// kagenti-enabled, rossoctl-enabled.
func (f Family) LabelEnabledNamespace() string { return f.Name + "-enabled" }

// LabelDefaults marks a namespace-defaults ConfigMap.
func (f Family) LabelDefaults() string { return f.label("defaults") }

// LabelProtocolPrefix prefixes labels naming the protocols an agent speaks:
// protocol.kagenti.io/a2a, protocol.rossoctl.io/a2a.
func (f Family) LabelProtocolPrefix() string { return "protocol." + f.Domain + "/" }

// LabelSignatureVerified marks an agent whose card signature verified; in the API
// group's domain, not the label domain, as upstream writes it.
func (f Family) LabelSignatureVerified() string { return f.Group + "/signature-verified" }

// AnnotationConfigHash on the pod template rolls pods when their configuration changes.
func (f Family) AnnotationConfigHash() string { return f.label("config-hash") }

// AnnotationMTLSMode on the pod template carries the effective mTLS mode.
func (f Family) AnnotationMTLSMode() string { return f.label("mtls-mode") }

// AnnotationSkills on a workload lists its skills.
func (f Family) AnnotationSkills() string { return f.label("skills") }

// AnnotationAuthBridgeMode is the deprecated per-pod mode selector.
func (f Family) AnnotationAuthBridgeMode() string { return f.label("authbridge-mode") }

// AnnotationClientCredentialsSecret names the Keycloak credentials Secret of the pod.
func (f Family) AnnotationClientCredentialsSecret() string {
	return f.label("keycloak-client-credentials-secret-name")
}

// AnnotationOutboundPortsExclude lists ports proxy-init must not redirect outbound.
func (f Family) AnnotationOutboundPortsExclude() string { return f.label("outbound-ports-exclude") }

// AnnotationInboundPortsExclude lists ports proxy-init must not redirect inbound.
func (f Family) AnnotationInboundPortsExclude() string { return f.label("inbound-ports-exclude") }

// AnnotationIstioMesh set to "disabled" on a namespace opts it out of Istio ambient.
func (f Family) AnnotationIstioMesh() string { return f.label("istio-mesh") }

// ConfigMapFeatureGates holds the platform feature gates (key feature-gates.yaml):
// kagenti-feature-gates, rossoctl-feature-gates.
func (f Family) ConfigMapFeatureGates() string { return f.Name + "-feature-gates" }

// SecretClientCredentialsPrefix prefixes the Keycloak credentials Secret of a workload:
// kagenti-keycloak-client-credentials-<hash>.
func (f Family) SecretClientCredentialsPrefix() string {
	return f.Name + "-keycloak-client-credentials"
}

// GroupKind is the family's kind (AgentRuntime, AuthorizationPolicy, AgentCard).
func (f Family) GroupKind(kind string) schema.GroupKind {
	return schema.GroupKind{Group: f.Group, Kind: kind}
}

// ControllerName names the family's instance of a controller named base: Kagenti's
// keeps base, the name it had before there were families; another family's appends its
// name (agentstatus-rossoctl).
func (f Family) ControllerName(base string) string {
	if f == Kagenti {
		return base
	}
	return base + "-" + f.Name
}

// String is the family's name.
func (f Family) String() string { return f.Name }
