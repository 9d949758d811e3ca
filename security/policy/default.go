package policy

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// DefaultPolicyName is the name of the global AuthorizationPolicy rendered when a
// repository brings none.
const DefaultPolicyName = "default"

// DefaultGlobalPolicy returns the global policy that combines the tiers, in the platform
// namespace. Its semantics are those of the Kagenti default: deny unless allowed; a
// namespace override allows; otherwise both the namespace and the client tier must
// allow, a tier without a policy counting as allowing. With requireClientPolicy, a request
// from or to an identity without a client policy is denied instead.
func DefaultGlobalPolicy(namespace string, requireClientPolicy bool) *agentv1.AuthorizationPolicy {
	p := &agentv1.AuthorizationPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: agentv1.GroupVersion.String(), Kind: agentv1.AuthorizationPolicyKind},
		ObjectMeta: metav1.ObjectMeta{Name: DefaultPolicyName, Namespace: namespace},
		Spec:       agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeGlobal},
	}
	for _, pt := range Points {
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{
			Path:    pt.File(),
			Content: combiner(pt, requireClientPolicy && pt.Phase == "request"),
		})
	}
	return p
}

func combiner(pt Point, requireClient bool) string {
	ns := "data." + Package(agentv1.ScopeNamespace, pt)
	client := "data." + Package(agentv1.ScopeClient, pt)
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport rego.v1\n\n", Package(agentv1.ScopeGlobal, pt))
	b.WriteString("# Deny unless a rule below allows.\ndefault allow := false\n\n")
	b.WriteString("# A namespace policy may force an allow.\n")
	fmt.Fprintf(&b, "allow if %s.override\n\n", ns)
	b.WriteString("# Otherwise every tier must agree.\nallow if {\n    ns_ok\n    client_ok\n}\n\n")
	fmt.Fprintf(&b, "ns_ok if %s.allow\n\n", ns)
	b.WriteString("# No namespace policy: the tier does not narrow.\n")
	fmt.Fprintf(&b, "ns_ok if not %s\n\n", ns)
	fmt.Fprintf(&b, "client_ok if %s.allow\n", client)
	if !requireClient {
		b.WriteString("\n# No client policy: the tier does not narrow.\n")
		fmt.Fprintf(&b, "client_ok if not %s\n", client)
	}
	return b.String()
}
