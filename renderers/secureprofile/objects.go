package secureprofile

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/manifest"
)

const (
	kuadrantNamespace     = "kuadrant-system"
	tlsBridgeIssuerName   = "authbridge-tls-bridge-selfsigned"
	tlsBridgeCASuffix     = "-tls-bridge-ca"
	tlsBridgeCAPrefix     = "authbridge-tls-bridge-ca-"
	tlsBridgeCADuration   = "2160h0m0s" // 90 days
	tlsBridgeCARenewal    = "360h0m0s"  // 15 days before expiry
	spireAPIVersion       = "spire.spiffe.io/v1alpha1"
	certManagerAPIVersion = "cert-manager.io/v1"
)

// clusterSPIFFEID registers the agent's pods with SPIRE: the pods its workload selects, in
// its namespace, get spiffe://<trust-domain>/ns/<ns>/sa/<service-account>. Selecting by
// the workload's selector and namespace, rather than by the kagenti.io/type label any pod
// in any namespace may carry, keeps SPIRE registrations to the agents Git declares; the
// ID always follows the pod's real ServiceAccount.
func clusterSPIFFEID(a *agent, trustDomain string, podSelector map[string]any, className string) *manifest.Object {
	o := forAgent(spireAPIVersion, "ClusterSPIFFEID", "", clusterScopedName(a.rt.Namespace, a.target.obj.GetName()), a)
	spec := map[string]any{
		"spiffeIDTemplate": "spiffe://" + trustDomain + "/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
		"podSelector":      podSelector,
		"namespaceSelector": map[string]any{
			"matchLabels": map[string]any{"kubernetes.io/metadata.name": a.rt.Namespace},
		},
	}
	if className != "" {
		spec["className"] = className
	}
	o.Object["spec"] = spec
	return o
}

// clusterScopedName joins namespace and name with a dot, which cannot occur in a
// namespace name, so distinct pairs never collide; overlong names are shortened with a hash.
func clusterScopedName(namespace, name string) string {
	n := namespace + "." + name
	if len(n) <= validation.DNS1123SubdomainMaxLength {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return n[:validation.DNS1123SubdomainMaxLength-17] + "-" + hex.EncodeToString(sum[:8])
}

// tlsBridgeIssuer is the namespace's self-signed issuer for TLS-bridge CAs.
func tlsBridgeIssuer(namespace string) *manifest.Object {
	o := generated(certManagerAPIVersion, "Issuer", namespace, tlsBridgeIssuerName, componentNamespace)
	o.Object["spec"] = map[string]any{"selfSigned": map[string]any{}}
	return o
}

// tlsBridgeCertificate is the agent's TLS-bridge CA, from which the sidecar mints the
// leaves it re-originates outbound TLS with.
func tlsBridgeCertificate(a *agent) *manifest.Object {
	name := a.rt.Spec.TargetRef.Name + tlsBridgeCASuffix
	o := forAgent(certManagerAPIVersion, "Certificate", a.rt.Namespace, name, a)
	o.Object["spec"] = map[string]any{
		"isCA":        true,
		"commonName":  tlsBridgeCAPrefix + a.rt.Name,
		"secretName":  name,
		"duration":    tlsBridgeCADuration,
		"renewBefore": tlsBridgeCARenewal,
		"privateKey":  map[string]any{"algorithm": "ECDSA", "size": int64(256)},
		"usages":      []any{"cert sign", "digital signature"},
		"issuerRef":   map[string]any{"name": tlsBridgeIssuerName, "kind": "Issuer", "group": "cert-manager.io"},
	}
	return o
}

func marshalYAML(doc map[string]any) (string, error) {
	b, err := yaml.Marshal(doc)
	return string(b), err
}
