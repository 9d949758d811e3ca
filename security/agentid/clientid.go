package agentid

import (
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/identity"
)

// Registered says whether an agent of a type gets a Keycloak client, whose credentials
// its pods mount: agents always, tools only with the injectTools gate, nothing when
// client registration is off.
func Registered(p *gitopsv1.Platform, t agentv1.AgentType) bool {
	return p.ClientRegistrationEnabled() && (t == agentv1.AgentTypeAgent || p.FeatureGates.InjectTools)
}

// ServiceAccountOf is the ServiceAccount an agent's identity is keyed by: the pod
// template's, or the workload's name where the template leaves it empty or default (the
// renderer then generates that ServiceAccount and sets it in the template).
func ServiceAccountOf(workload, serviceAccount string) string {
	if serviceAccount == "" || serviceAccount == "default" {
		return workload
	}
	return serviceAccount
}

// AgentClientID is the client ID of an agent, at render time and at run time: its
// SPIFFE ID spiffe://<trust domain>/ns/<ns>/sa/<sa> when its pods get SPIFFE identities (SPIRE on in the platform, the pod template not opting out with
// <domain>/spiffe-helper-inject=false of the agent's family, a trust domain known: the AgentRuntime's
// override, else the platform's), else <ns>/<workload>.
func AgentClientID(p *gitopsv1.Platform, f agentv1.Family, rt *agentv1.AgentRuntime, workload, serviceAccount string, podLabels map[string]string) (string, error) {
	spire := p.SPIREEnabled() && podLabels[f.LabelSpiffeHelperInject()] != "false"
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

// Workload names a workload by API group, kind and name: what an AgentRuntime targets.
type Workload struct {
	Group, Kind, Name string
}

func (w Workload) String() string { return w.Kind + " " + w.Name }

// Key is the workload's key in the indexes of AgentRuntimes by target.
func (w Workload) Key() string { return w.Group + "/" + w.Kind + "/" + w.Name }

// WorkloadOf names what an apiVersion, kind and name refer to.
func WorkloadOf(apiVersion, kind, name string) Workload {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		group = "" // the core group: "v1"
	}
	return Workload{Group: group, Kind: kind, Name: name}
}

// TargetOf is the workload an AgentRuntime targets.
func TargetOf(rt *agentv1.AgentRuntime) Workload {
	ref := rt.Spec.TargetRef
	return WorkloadOf(ref.APIVersion, ref.Kind, ref.Name)
}

// TargetIndex is the field index of AgentRuntimes by the Key of their target; every
// cache that indexes them uses this name and TargetOf(rt).Key().
const TargetIndex = "spec.targetRef"
