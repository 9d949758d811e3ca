package keycloak

import (
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/identity"
)

// Registered says whether an agent of a type gets a Keycloak client: agents always,
// tools only with the injectTools gate, nothing when client registration is off. It is
// the rule the renderer follows (authbridge.Registered), restated because that package
// imports this one.
func Registered(p *gitopsv1.Platform, t agentv1.AgentType) bool {
	return p.ClientRegistrationEnabled() && (t == agentv1.AgentTypeAgent || p.FeatureGates.InjectTools)
}

// ServiceAccountOf is the ServiceAccount an agent's identity is keyed by: the pod
// template's, or the workload's name where the template leaves it empty or default, as
// the renderer makes it.
func ServiceAccountOf(workload, serviceAccount string) string {
	if serviceAccount == "" || serviceAccount == "default" {
		return workload
	}
	return serviceAccount
}

// AgentClientID is the client ID of an agent, as the renderer computes it for
// Agent.ClientID: its SPIFFE ID spiffe://<trust domain>/ns/<ns>/sa/<sa> when its pods
// get SPIFFE identities (SPIRE on in the platform, the pod template not opting out with
// kagenti.io/spiffe-helper-inject=false, a trust domain known: the AgentRuntime's
// override, else the platform's), else <ns>/<workload>.
func AgentClientID(p *gitopsv1.Platform, rt *agentv1.AgentRuntime, workload, serviceAccount string, podLabels map[string]string) (string, error) {
	spire := p.SPIREEnabled() && podLabels[agentv1.LabelSpiffeHelperInject] != "false"
	td := p.TrustDomain
	if rt.Spec.Identity != nil && rt.Spec.Identity.SPIFFE != nil && rt.Spec.Identity.SPIFFE.TrustDomain != "" {
		td = rt.Spec.Identity.SPIFFE.TrustDomain
	}
	if !spire || td == "" {
		return ClientID("", rt.Namespace, workload), nil
	}
	id, err := identity.SPIFFEID(td, rt.Namespace, ServiceAccountOf(workload, serviceAccount))
	if err != nil {
		return "", err
	}
	return ClientID(id.String(), rt.Namespace, workload), nil
}
