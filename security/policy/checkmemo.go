package policy

import (
	"crypto/sha256"
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/generations"
)

// CheckMemo remembers the AuthorizationPolicies that passed Check's checks of one
// policy alone (shape, bounds, parse, compile), by their namespace, name and spec and
// the options those checks read. What is checked across policies (a tier's modules
// together, the global tier's coverage) is checked every time, from the kept modules of
// the global and namespace policies (a client policy keeps none: nothing reads them),
// and a policy that failed is checked again, to report its errors. It keeps two
// generations of 65,536 policies. The zero CheckMemo is ready; it is safe for
// concurrent checks.
type CheckMemo struct {
	passes generations.Map[[sha256.Size]byte, []*ast.Module]
}

// checkKey is what the checks of one policy read.
type checkKey struct {
	Namespace, Name   string
	Spec              agentv1.AuthorizationPolicySpec
	PlatformNamespace string
	Limits            gitopsv1.Limits
	TrustDomain       string
}

func (m *CheckMemo) key(p *agentv1.AuthorizationPolicy, o *CheckOptions) ([sha256.Size]byte, bool) {
	data, err := json.Marshal(checkKey{p.Namespace, p.Name, p.Spec, o.PlatformNamespace, o.Limits, o.TrustDomain})
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(data), true
}

// passed reports whether a policy passed, with the parsed modules that the checks
// across policies read (see Check; none for a client policy). Compilers copy the
// modules they are given, so they are shared as they are.
func (m *CheckMemo) passed(k [sha256.Size]byte) ([]*ast.Module, bool) { return m.passes.Get(k) }

func (m *CheckMemo) put(k [sha256.Size]byte, mods []*ast.Module) { m.passes.Put(k, mods) }
