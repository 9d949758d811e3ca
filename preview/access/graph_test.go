package access

import (
	"context"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGraph(t *testing.T) {
	ctx := context.Background()
	research, planner := id("team-a", "research-agent"), id("team-b", "planner-agent")
	g := NewGraph(revision([]renderers.Identity{research, planner}, nsPolicy("team-a"), nsPolicy("team-b", research.ID)))
	tests := []struct {
		caller, callee string
		allow          bool
		refusal        string
	}{
		{research.Key(), planner.Key(), true, ""},
		{planner.Key(), research.Key(), false, "inbound/request: "},
		{planner.Key(), "team-c/ghost", false, "not in this revision"},
	}
	for _, tt := range tests {
		v, err := g.Verdict(ctx, tt.caller, tt.callee)
		if err != nil {
			t.Fatal(err)
		}
		if v.Allow != tt.allow || !strings.HasPrefix(v.Refusal(), tt.refusal) {
			t.Errorf("%s → %s: allow %v (%s), want %v", tt.caller, tt.callee, v.Allow, v.Refusal(), tt.allow)
		}
	}
	if got := g.Tiers(planner.Key()); len(got.Namespace) != 1 || got.Namespace[0].Name != "team-b" {
		t.Errorf("planner's namespace tier %+v", got.Namespace)
	}

	// What if: the same pair at one point, with a request of the asker's.
	d, err := g.Decide(ctx, planner.Key(), research.Key(), policy.Point{Direction: "inbound", Phase: "request"}, "GET", "/health")
	if err != nil || d.Allow {
		t.Errorf("planner → research inbound: %+v, %v", d, err)
	}
	if _, err := g.Decide(ctx, planner.Key(), "team-c/ghost", policy.Point{Direction: "inbound", Phase: "request"}, "", ""); err == nil {
		t.Error("a decision for an identity not in the revision")
	}
}

// TestVerdictAtAgreesWithVerdict: keyed by identity index, a Graph decides every pair
// as Verdict does, with policies that read the caller, the callee's host and the
// authenticated peer, and identities that share a SPIFFE ID or differ only in mTLS.
func TestVerdictAtAgreesWithVerdict(t *testing.T) {
	ctx := context.Background()
	var ids []renderers.Identity
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		for i, name := range []string{"one", "two", "three"} {
			x := id(ns, name)
			x.Injected, x.Mode = i != 2, "proxy-sidecar"
			x.MTLS = []string{"strict", "permissive", ""}[i]
			if name == "three" {
				x.ID = "spiffe://example.org/ns/" + ns + "/sa/one" // shares one's ServiceAccount identity
			}
			ids = append(ids, x)
		}
	}
	byHost := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "team-b"}, Spec: agentv1.AuthorizationPolicySpec{
		Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "outbound/request.rego", Content: "package authbridge.ns.outbound.request\n\ndefault allow := false\n\nallow if startswith(input.host, \"one.\")\n"}}}}
	byPeer := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "team-c"}, Spec: agentv1.AuthorizationPolicySpec{
		Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: "package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if input.peer.spiffe_id != \"\"\n"}}}}
	rev := func() Revision { return revision(ids, nsPolicy("team-a", ids[3].ID), byHost, byPeer) }
	byKey, byIndex := NewGraph(rev()), NewGraph(rev())
	allowed := 0
	for i, a := range ids {
		for j, b := range ids {
			if i == j {
				continue
			}
			want, err := byKey.Verdict(ctx, a.Key(), b.Key())
			if err != nil {
				t.Fatal(err)
			}
			got, err := byIndex.VerdictAt(ctx, i, j)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != want.Allow || got.Inbound.Reason != want.Inbound.Reason || got.Outbound.Reason != want.Outbound.Reason {
				t.Errorf("%s → %s: VerdictAt %+v, Verdict %+v", a.Key(), b.Key(), got, want)
			}
			if got.Allow {
				allowed++
			}
		}
	}
	if allowed == 0 || allowed == len(ids)*(len(ids)-1) {
		t.Errorf("%d of %d pairs allowed: the policies decide nothing apart", allowed, len(ids)*(len(ids)-1))
	}
	if _, err := byIndex.VerdictAt(ctx, 0, len(ids)); err == nil {
		t.Error("an index past the identities was decided")
	}
}
