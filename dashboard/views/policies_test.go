package views

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func authzPolicy(ns, name string, scope agentv1.PolicyScope, paths []string, conds ...metav1.Condition) *agentv1.AuthorizationPolicy {
	ap := &agentv1.AuthorizationPolicy{Spec: agentv1.AuthorizationPolicySpec{Scope: scope}}
	ap.Namespace, ap.Name = ns, name
	for _, p := range paths {
		ap.Spec.Policies = append(ap.Spec.Policies, agentv1.RegoPolicy{Path: p, Content: "package x"})
	}
	ap.Status.Conditions = conds
	return ap
}

func TestNewPolicyRow(t *testing.T) {
	failed := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "CompileFailed", Message: "inbound/request.rego:3: rego_parse_error"}
	testFailed := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "TestFailed", Message: "1 of 2 tests failed"}
	noReason := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse}
	unknown := metav1.Condition{Type: "Ready", Status: metav1.ConditionUnknown, Reason: "Building"}
	built := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Built", Message: "in 3 bundles"}
	other := metav1.Condition{Type: "Synced", Status: metav1.ConditionTrue}

	tests := []struct {
		name                  string
		cond                  []metav1.Condition
		paths                 []string
		status, tone, message string
		tests                 int
	}{
		{"ready true", []metav1.Condition{built}, []string{"inbound/request.rego", "inbound/request_test.rego"}, "Built", "good", "in 3 bundles", 1},
		{"compile failed", []metav1.Condition{failed}, []string{"inbound/request.rego"}, "CompileFailed", "bad", failed.Message, 0},
		{"test failed", []metav1.Condition{other, testFailed}, []string{"a_test.rego", "b_test.rego", "test.rego"}, "TestFailed", "bad", testFailed.Message, 2},
		{"false without reason", []metav1.Condition{noReason}, nil, "NotReady", "bad", "", 0},
		{"unknown takes the reason", []metav1.Condition{unknown}, nil, "Building", "bad", "", 0},
		{"no condition", nil, []string{"x_test.rego.bak", "test_x.rego"}, "Pending", "progress", "", 0},
		{"only other conditions", []metav1.Condition{other}, nil, "Pending", "progress", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := authzPolicy("team-a", "p", agentv1.ScopeNamespace, tt.paths, tt.cond...)
			ap.Status.BundleHash = "sha256:abc"
			row := NewPolicyRow(ap)
			if row.Status != tt.status || row.Tone != tt.tone || row.Message != tt.message {
				t.Errorf("status %q tone %q message %q, want %q %q %q", row.Status, row.Tone, row.Message, tt.status, tt.tone, tt.message)
			}
			if row.Tests != tt.tests || !slices.Equal(row.Files, tt.paths) {
				t.Errorf("files %v tests %d, want %v and %d", row.Files, row.Tests, tt.paths, tt.tests)
			}
			if row.Namespace != "team-a" || row.Name != "p" || row.Tier != "namespace" || row.Client != "" || row.BundleHash != "sha256:abc" {
				t.Errorf("row %+v", row)
			}
		})
	}

	// A client policy names its client.
	ap := authzPolicy("team-a", "research-agent", agentv1.ScopeClient, []string{"outbound/request.rego"})
	ap.Spec.ClientID = "research-agent"
	if row := NewPolicyRow(ap); row.Tier != "client" || row.Client != "research-agent" {
		t.Errorf("client row %+v", row)
	}
}

func TestNewPoliciesPage(t *testing.T) {
	bad := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "CompileFailed"}
	ok := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue}
	client := authzPolicy("team-a", "research-agent", agentv1.ScopeClient, []string{"outbound/request.rego"}, ok)
	client.Spec.ClientID = "research-agent"
	aps := []*agentv1.AuthorizationPolicy{
		client,
		authzPolicy("team-b", "team-b", agentv1.ScopeNamespace, []string{"inbound/request.rego"}, bad),
		authzPolicy("trustsync-system", "default", agentv1.ScopeGlobal, []string{"inbound/request.rego", "outbound/request.rego"}, ok),
		authzPolicy("team-a", "team-a", agentv1.ScopeNamespace, []string{"inbound/request.rego", "inbound/request_test.rego"}, ok),
		authzPolicy("team-a", "audit", agentv1.ScopeGlobal, nil, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotHonoured"}),
		authzPolicy("team-b", "planner-agent", agentv1.ScopeClient, nil), // not built yet
	}
	p := NewPoliciesPage(aps, Query{Page: 1, Size: DefaultPageSize})
	var keys []string
	for _, r := range p.Rows {
		keys = append(keys, r.Tier+" "+r.Namespace+"/"+r.Name+" "+r.Status)
	}
	want := []string{
		"global team-a/audit NotHonoured",
		"global trustsync-system/default Built",
		"namespace team-a/team-a Built",
		"namespace team-b/team-b CompileFailed",
		"client team-a/research-agent Built",
		"client team-b/planner-agent Pending",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("rows\n%v\nwant\n%v", keys, want)
	}
	if p.Total != 6 || p.Failing != 3 {
		t.Errorf("total %d failing %d, want 6 and 3", p.Total, p.Failing)
	}
	if !slices.Equal(p.Namespaces, []string{"team-a", "team-b", "trustsync-system"}) {
		t.Errorf("namespaces %v", p.Namespaces)
	}
	if p.Rows[2].Tests != 1 {
		t.Errorf("team-a tests %d", p.Rows[2].Tests)
	}

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"namespace", Query{Namespace: "team-b"}, []string{"team-b/team-b", "team-b/planner-agent"}},
		{"text on tier", Query{Text: "GLOBAL"}, []string{"team-a/audit", "trustsync-system/default"}},
		{"text on status", Query{Text: "compilefailed"}, []string{"team-b/team-b"}},
		{"text on status pending", Query{Text: "pending"}, []string{"team-b/planner-agent"}},
		{"text on client", Query{Namespace: "team-a", Text: "research"}, []string{"team-a/research-agent"}},
		{"text on name", Query{Text: "default"}, []string{"trustsync-system/default"}},
		{"nothing", Query{Text: "zzz"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Page, tt.q.Size = 1, DefaultPageSize
			p := NewPoliciesPage(aps, tt.q)
			var keys []string
			for _, r := range p.Rows {
				keys = append(keys, r.Namespace+"/"+r.Name)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("rows %v, want %v", keys, tt.want)
			}
			if p.Failing != 3 || p.Total != 6 {
				t.Errorf("failing %d total %d: want counts over all policies", p.Failing, p.Total)
			}
		})
	}

	p = NewPoliciesPage(aps, Query{Page: 3, Size: 2})
	if len(p.Rows) != 2 || p.Rows[0].Name != "research-agent" || p.Paging.Page != 3 || p.Paging.Next != "" || p.Paging.First != 5 {
		t.Errorf("page 3: rows %+v paging %+v", p.Rows, p.Paging)
	}
}

// The client tier is the ServiceAccount of the policy's name (spec.clientID only informs),
// and a policy without a scope is in the client tier, as the CRD defaults it.
func TestPolicyRowClientTier(t *testing.T) {
	ap := authzPolicy("team-a", "research-agent", "", nil)
	ap.Spec.ClientID = "something-else"
	row := NewPolicyRow(ap)
	if row.Tier != string(agentv1.ScopeClient) || row.Client != "research-agent" {
		t.Errorf("tier %q client %q, want client research-agent", row.Tier, row.Client)
	}
	page := NewPoliciesPage([]*agentv1.AuthorizationPolicy{ap, authzPolicy("trustsync-system", "z-global", agentv1.ScopeGlobal, nil)}, Query{Page: 1, Size: 10})
	if page.Rows[0].Tier != "global" {
		t.Errorf("a scopeless policy sorted before the global tier: %+v", page.Rows)
	}
}
