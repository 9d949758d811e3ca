package renderers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Identity is a workload of the revision that takes part in authorization: an agent or
// a tool, with what policies see of it.
type Identity struct {
	// Namespace and Name of the AgentRuntime; Type is agent or tool.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	// ServiceAccount the pods run as; the client tier is the policy of this name.
	ServiceAccount string `json:"serviceAccount"`
	// ID is the SPIFFE ID, spiffe://<td>/ns/<ns>/sa/<sa>, that callers present and
	// policies see as client_id.
	ID string `json:"id"`
	// Host is how callers address it, <service>.<namespace>.svc:<port>; empty when no
	// Service of the revision selects its pods.
	Host string `json:"host,omitempty"`
	// Injected, Mode and MTLS are the agent's sidecar: whether it has one, its mode
	// and its mTLS mode (what the previews need to know whether a call carries a peer
	// SVID).
	Injected bool   `json:"-"`
	Mode     string `json:"-"`
	MTLS     string `json:"-"`
}

// AuthenticatesPeer says a call from caller to callee is over mutual TLS between their
// sidecars, so the callee's policy sees the caller's SVID as input.peer.spiffe_id: the
// caller's sidecar dials with TLS only in strict mode, and trustsync's own proxy
// sidecar (proxy-sidecar or lite, mTLS on) is the one that passes the peer to policy.
func AuthenticatesPeer(caller, callee Identity) bool {
	return caller.Injected && caller.MTLS == string(agentv1.MTLSStrict) &&
		callee.Injected && callee.MTLS != "" && callee.MTLS != string(agentv1.MTLSDisabled) &&
		(callee.Mode == string(agentv1.AuthBridgeProxySidecar) || callee.Mode == string(agentv1.AuthBridgeLite))
}

// ServiceAccountID is the SPIFFE ID pods of a ServiceAccount get from SPIRE, for an agent
// that has none yet (SPIRE off): what policies see as its client_id.
func ServiceAccountID(trustDomain, namespace, serviceAccount string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, namespace, serviceAccount)
}

// Key is namespace/name.
func (i Identity) Key() string { return i.Namespace + "/" + i.Name }

// Identities lists the revision's agents and tools in namespace/name order. Agents
// without a SPIFFE ID (SPIRE off) get the one their ServiceAccount would have in
// trustDomain, so their policies can still be evaluated.
func (r *Result) Identities(trustDomain string) []Identity {
	var services []*manifest.Object
	workloads := map[string]*manifest.Object{} // kind/namespace/name
	for _, o := range r.Objects {
		if o.GetKind() == "Service" && o.GroupVersionKind().Group == "" {
			services = append(services, o)
		}
		workloads[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
	}
	out := make([]Identity, 0, len(r.Agents))
	for _, a := range r.Agents {
		id := Identity{Namespace: a.Namespace, Name: a.Name, Type: a.Type, ServiceAccount: a.ServiceAccount, ID: a.SPIFFEID,
			Injected: a.Injected, Mode: a.Mode, MTLS: a.MTLS}
		if id.ID == "" {
			id.ID = ServiceAccountID(trustDomain, a.Namespace, a.ServiceAccount)
		}
		if kind, name, ok := strings.Cut(a.Workload, "/"); ok {
			if w := workloads[kind+"/"+a.Namespace+"/"+name]; w != nil {
				labels, _, _ := unstructured.NestedStringMap(w.Object, "spec", "template", "metadata", "labels")
				id.Host = serviceHost(services, a.Namespace, labels)
			}
		}
		out = append(out, id)
	}
	return out
}

// serviceHost is the address of the first Service (in object order) whose selector
// matches the pod labels.
func serviceHost(services []*manifest.Object, namespace string, podLabels map[string]string) string {
	for _, s := range services {
		if s.GetNamespace() != namespace {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(s.Object, "spec", "selector")
		if len(sel) == 0 || !subset(sel, podLabels) {
			continue
		}
		host := s.GetName() + "." + namespace + ".svc"
		if ports, _, _ := unstructured.NestedSlice(s.Object, "spec", "ports"); len(ports) > 0 {
			if p, ok := ports[0].(map[string]any); ok {
				if port, ok := p["port"]; ok {
					host += fmt.Sprintf(":%v", port)
				}
			}
		}
		return host
	}
	return ""
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
