package access

import (
	"context"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
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
