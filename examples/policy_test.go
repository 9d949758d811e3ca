package examples_test

import (
	"context"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/renametest"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// TestDecisionTable evaluates who may call whom in the example repositories, at the
// points and with the inputs the AuthBridge sidecars use, through the same bundles the
// bundle server would serve.
func TestDecisionTable(t *testing.T) {
	const (
		research = "team-a/research-agent"
		planner  = "team-b/planner-agent"
		calendar = "team-b/calendar-tool"
		weather  = "demo/assistant"
		wtool    = "demo/weather-tool"
	)
	tests := []decisionCase{
		// multi-tenant: team-a's research-agent may call team-b's planner-agent, not the reverse.
		{"multi-tenant", research, planner, "inbound/request", "", 0, true, "allowed by global"},
		{"multi-tenant", planner, research, "inbound/request", "", 0, false, "namespace tier (team-a/team-a)"},
		{"multi-tenant", research, planner, "inbound/request", "tasks/cancel", 0, false, "client tier (team-b/planner-agent)"},
		{"multi-tenant", calendar, planner, "inbound/request", "", 0, true, ""},
		{"multi-tenant", research, calendar, "inbound/request", "", 0, true, "namespace (team-b/team-b)"},
		// research-agent's own outbound tier: the planner and nothing else in the cluster.
		{"multi-tenant", research, planner, "outbound/request", "", 0, true, "client (team-a/research-agent)"},
		{"multi-tenant", research, calendar, "outbound/request", "", 0, false, "client tier (team-a/research-agent)"},
		// Responses: no tier narrows them in this repository.
		{"multi-tenant", research, planner, "inbound/response", "", 503, true, ""},
		{"multi-tenant", planner, research, "outbound/response", "", 200, true, ""},
		// single-agent: only workloads of the demo namespace may call in.
		{"single-agent", weather, wtool, "inbound/request", "", 0, true, ""},
		{"single-agent", research, wtool, "inbound/request", "", 0, false, "namespace tier (demo/demo)"},
	}
	// The same table holds for the examples rewritten into Rossoctl's names under
	// platform-rossoctl.yaml: the same decisions, for the same reasons.
	rossoctl, err := gitopsv1.LoadPlatform("platform-rossoctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rossoctl.TrustDomain = platform(t).TrustDomain // the table's identities
	families := []struct {
		name string
		tree string
		p    *gitopsv1.Platform
	}{{"kagenti", ".", platform(t)}, {"rossoctl", renametest.Tree(t, agentv1.Rossoctl, "."), rossoctl}}
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) { decisionTable(t, fam.tree, fam.p, tests) })
	}
}

type decisionCase struct {
	example        string
	caller, callee string
	point          string
	a2a            string
	status         int
	allow          bool
	reason         string
}

func decisionTable(t *testing.T, tree string, p *gitopsv1.Platform, tests []decisionCase) {
	const research = "team-a/research-agent"
	cache := map[string]map[string]renderers.Identity{}
	sets := map[string]*policy.Set{}
	for _, tt := range tests {
		if _, ok := sets[tt.example]; ok {
			continue
		}
		res := renderIn(t, tree, tt.example, p)
		sets[tt.example] = policy.NewSet(p.Namespace, res.AuthorizationPolicies())
		ids := map[string]renderers.Identity{}
		for _, id := range res.Identities(p.TrustDomain) {
			ids[id.Key()] = id
		}
		cache[tt.example] = ids
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(strings.Join([]string{tt.example, tt.caller, tt.callee, tt.point, tt.a2a}, " "), func(t *testing.T) {
			ids := cache[tt.example]
			caller, callee := ids[tt.caller], ids[tt.callee]
			if tt.example == "single-agent" && tt.caller == research {
				caller = renderers.Identity{ID: "spiffe://example.org/ns/team-a/sa/research-agent"}
			}
			if caller.ID == "" || callee.ID == "" {
				t.Fatalf("unknown identity in %s: %q or %q", tt.example, tt.caller, tt.callee)
			}
			pt, err := policy.ParsePoint(tt.point)
			if err != nil {
				t.Fatal(err)
			}
			call := policy.Call{Caller: policy.Party{ID: caller.ID, Host: caller.Host}, Callee: policy.Party{ID: callee.ID, Host: callee.Host}, A2AMethod: tt.a2a, StatusCode: tt.status}
			owner := callee
			if pt.Direction == "outbound" {
				owner = caller
			}
			b, err := policy.Build(sets[tt.example].Tiers(owner.Namespace, owner.ServiceAccount))
			if err != nil {
				t.Fatal(err)
			}
			d, err := policy.NewDecider(ctx, b, p.Limits)
			if err != nil {
				t.Fatal(err)
			}
			got := d.Decide(ctx, pt, call.Input(pt))
			if got.Allow != tt.allow || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("%s → %s at %s: %v; want allow=%v, reason containing %q", tt.caller, tt.callee, tt.point, got, tt.allow, tt.reason)
			}
		})
	}
}
