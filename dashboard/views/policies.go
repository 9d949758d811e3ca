package views

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// PolicyRow is one AuthorizationPolicy on the policies page.
type PolicyRow struct {
	Namespace, Name string
	// Tier is global, namespace or client; Client names the ServiceAccount of a client
	// policy.
	Tier, Client string
	// Status is Built, CompileFailed, TestFailed or NotHonoured (a policy its tier does
	// not let decide), else the Ready reason; Message says why.
	Status, Message string
	Tone            string
	BundleHash      string
	// Files are the Rego files; Tests counts those ending in _test.rego.
	Files []string
	Tests int
}

// PoliciesPage is a page of policies.
type PoliciesPage struct {
	Query  Query
	Total  int
	Rows   []PolicyRow
	Paging Paging
	// Failing counts the policies (of all) that are not Built.
	Failing    int
	Namespaces []string
}

// NewPoliciesPage lists the AuthorizationPolicies, global tier first.
func NewPoliciesPage(aps []*agentv1.AuthorizationPolicy, q Query) PoliciesPage {
	p := PoliciesPage{Query: q, Total: len(aps)}
	namespaces := map[string]bool{}
	var rows []PolicyRow
	for _, ap := range aps {
		namespaces[ap.Namespace] = true
		row := NewPolicyRow(ap)
		if row.Status != "Built" {
			p.Failing++
		}
		if q.Namespace != "" && ap.Namespace != q.Namespace || !q.matches(ap.Name, ap.Namespace, row.Tier, row.Status, row.Client) {
			continue
		}
		rows = append(rows, row)
	}
	order := map[string]int{"global": 0, "namespace": 1, "client": 2}
	slices.SortFunc(rows, func(a, b PolicyRow) int {
		return cmp.Or(cmp.Compare(order[a.Tier], order[b.Tier]), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	lo, hi, pg := q.page(len(rows))
	p.Rows, p.Paging, p.Namespaces = rows[lo:hi], pg, sortedKeys(namespaces)
	return p
}

// NewPolicyRow summarises one AuthorizationPolicy.
func NewPolicyRow(ap *agentv1.AuthorizationPolicy) PolicyRow {
	scope := ap.EffectiveScope()
	row := PolicyRow{Namespace: ap.Namespace, Name: ap.Name, Tier: string(scope), BundleHash: ap.Status.BundleHash, Status: "Pending", Tone: "progress"}
	if scope == agentv1.ScopeClient {
		row.Client = ap.Name // the client tier is the ServiceAccount of the policy's name
	}
	for _, f := range ap.Spec.Policies {
		row.Files = append(row.Files, f.Path)
		if strings.HasSuffix(f.Path, "_test.rego") {
			row.Tests++
		}
	}
	if c := meta.FindStatusCondition(ap.Status.Conditions, "Ready"); c != nil {
		row.Message = c.Message
		switch {
		case c.Status == "True":
			row.Status, row.Tone = "Built", "good"
		case c.Reason != "":
			row.Status, row.Tone = c.Reason, "bad"
		default:
			row.Status, row.Tone = "NotReady", "bad"
		}
	}
	return row
}
