package policy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

const (
	idA = "spiffe://example.org/ns/team-a/sa/research-agent"
	idB = "spiffe://example.org/ns/team-b/sa/planner-agent"
	idC = "spiffe://example.org/ns/team-b/sa/calendar-tool"
)

// Policies of a small two-team setup: team-b admits its own callers and team-a's
// research-agent; planner-agent's client tier admits research-agent only for
// message/send; team-b's namespace override lets the platform's monitor in anywhere.
var (
	nsTeamB = ap("team-b", "team-b", agentv1.ScopeNamespace, "inbound/request.rego", `package authbridge.ns.inbound.request

default allow := false

allow if regex.match(`+"`^spiffe://[^/]+/ns/team-b/sa/[^/]+$`"+`, input.identity.client_id)

allow if input.identity.client_id == "`+idA+`"

override if input.identity.client_id == "spiffe://example.org/ns/monitoring/sa/prober"
`)
	clientPlanner = ap("team-b", "planner-agent", agentv1.ScopeClient,
		"inbound/request.rego", `package authbridge.client.inbound.request

default allow := false

allow if startswith(input.identity.client_id, "spiffe://example.org/ns/team-b/")

allow if {
	input.identity.client_id == "`+idA+`"
	input.a2a.method == "message/send"
}
`,
		"outbound/response.rego", `package authbridge.client.outbound.response

default allow := false

# Never pass a server error back to the caller's model.
allow if input.response.status_code < 500
`)
	clientResearch = ap("team-a", "research-agent", agentv1.ScopeClient, "outbound/request.rego", `package authbridge.client.outbound.request

default allow := false

allow if input.host == "planner-agent.team-b.svc:8000"
`)
)

func TestDecisions(t *testing.T) {
	ctx := context.Background()
	a := Party{ID: idA, Host: "research-agent.team-a.svc:8080"}
	b := Party{ID: idB, Host: "planner-agent.team-b.svc:8000"}
	c := Party{ID: idC, Host: "calendar-tool.team-b.svc:9000"}
	prober := Party{ID: "spiffe://example.org/ns/monitoring/sa/prober"}
	tests := []struct {
		name     string
		set      *Set
		call     Call
		point    string
		allow    bool
		inReason string
	}{
		{"A may call B", testSet(nsTeamB, clientPlanner, clientResearch), Call{Caller: a, Callee: b}, "inbound/request", true, "allowed by global"},
		{"A may call B only with message/send", testSet(nsTeamB, clientPlanner, clientResearch), Call{Caller: a, Callee: b, A2AMethod: "tasks/cancel"}, "inbound/request", false, "client tier (team-b/planner-agent)"},
		{"B may not call A: A's outbound... no, A's namespace has no policy, B's caller side is open", testSet(nsTeamB, clientPlanner, clientResearch), Call{Caller: b, Callee: a}, "inbound/request", true, "allowed by global"},
		{"C (team-b) may call B", testSet(nsTeamB, clientPlanner), Call{Caller: c, Callee: b}, "inbound/request", true, ""},
		{"an outsider may not call C: namespace tier narrows", testSet(nsTeamB), Call{Caller: Party{ID: "spiffe://example.org/ns/team-x/sa/x"}, Callee: c}, "inbound/request", false, "namespace tier (team-b/team-b)"},
		{"the namespace override forces an allow past the client tier", testSet(nsTeamB, clientPlanner), Call{Caller: prober, Callee: b}, "inbound/request", true, "override"},
		{"missing tiers allow", testSet(), Call{Caller: c, Callee: a}, "inbound/request", true, "allowed by global (trustsync-system/default)"},
		{"outbound: A may reach B's host", testSet(clientResearch), Call{Caller: a, Callee: b}, "outbound/request", true, ""},
		{"outbound: A may not reach C", testSet(clientResearch), Call{Caller: a, Callee: c}, "outbound/request", false, "client tier (team-a/research-agent)"},
		{"response: a 200 passes B's outbound response", testSet(clientPlanner), Call{Caller: b, Callee: c, StatusCode: 200}, "outbound/response", true, ""},
		{"response: a 502 is stopped", testSet(clientPlanner), Call{Caller: b, Callee: c, StatusCode: 502}, "outbound/response", false, "client tier"},
		{"requireClientPolicy: no client policy, denied", NewSet(platformNS, []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true)}), Call{Caller: a, Callee: c}, "inbound/request", false, "no client policy"},
		{"requireClientPolicy: with a client policy, allowed", NewSet(platformNS, []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true), clientPlanner}), Call{Caller: c, Callee: b}, "inbound/request", true, ""},
		{"requireClientPolicy does not apply to responses", NewSet(platformNS, []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true)}), Call{Caller: a, Callee: c}, "inbound/response", true, ""},
		{"no global policy: deny, fail closed", NewSet(platformNS, []*agentv1.AuthorizationPolicy{clientPlanner}), Call{Caller: c, Callee: b}, "inbound/request", false, "fail closed"},
		{"a conflicting result is an evaluation error: deny", testSet(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true if input.method == \"POST\"\nallow := false if input.path == \"/\"\n")), Call{Caller: c, Callee: b}, "inbound/request", false, "failed to evaluate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := ParsePoint(tt.point)
			if err != nil {
				t.Fatal(err)
			}
			owner := tt.call.Decides(pt)
			w := strings.Split(strings.TrimPrefix(owner.ID, "spiffe://example.org/ns/"), "/sa/")
			b, err := Build(tt.set.Tiers(w[0], w[1]))
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, b, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := d.Decide(ctx, pt, tt.call.Input(pt))
			if got.Allow != tt.allow || !strings.Contains(got.Reason, tt.inReason) {
				t.Errorf("got %+v, want allow=%v with reason containing %q", got, tt.allow, tt.inReason)
			}
		})
	}
}

func TestDecisionShapes(t *testing.T) {
	ctx := context.Background()
	global := func(body string) *Set {
		g := ap(platformNS, "mine", agentv1.ScopeGlobal)
		for _, pt := range Points {
			g.Spec.Policies = append(g.Spec.Policies, agentv1.RegoPolicy{Path: pt.File(), Content: "package " + Package(agentv1.ScopeGlobal, pt) + "\n" + body})
		}
		return NewSet(platformNS, []*agentv1.AuthorizationPolicy{g})
	}
	tests := []struct {
		name     string
		set      *Set
		allow    bool
		inReason string
	}{
		{"reason from the policy", global("allow := true\nreason := \"trusted caller\"\n"), true, "trusted caller"},
		{"no allow rule: deny", global("x := 1\n"), false, "no boolean allow"},
		{"allow not a boolean: deny", global("allow := \"yes\"\n"), false, "no boolean allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Build(tt.set.Tiers("a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, b, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := d.Decide(ctx, Points[0], map[string]any{})
			if got.Allow != tt.allow || !strings.Contains(got.Reason, tt.inReason) {
				t.Errorf("got %+v, want allow=%v reason ~%q", got, tt.allow, tt.inReason)
			}
		})
	}
}

func TestRegoTests(t *testing.T) {
	ctx := context.Background()
	withTests := clientPlanner.DeepCopy()
	withTests.Spec.Policies = append(withTests.Spec.Policies, agentv1.RegoPolicy{Path: "inbound/request_test.rego", Content: `package authbridge.client.inbound.request_test

test_research_agent_may_send if {
	data.authbridge.inbound.request.allow with input as {"identity": {"client_id": "` + idA + `"}, "a2a": {"method": "message/send"}}
}

test_outsider_is_refused if {
	not data.authbridge.inbound.request.allow with input as {"identity": {"client_id": "spiffe://example.org/ns/x/sa/y"}}
}

# Wrong on purpose: team-b's namespace tier refuses team-x.
test_team_x_may_call if {
	data.authbridge.inbound.request.allow with input as {"identity": {"client_id": "spiffe://example.org/ns/team-x/sa/y"}}
}
`})
	set := testSet(nsTeamB, withTests)
	results, errs := Test(ctx, set, []*agentv1.AuthorizationPolicy{nsTeamB, withTests}, gitopsv1.Limits{})
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(results) != 3 {
		t.Fatalf("results %+v, want 3", results)
	}
	pass := map[string]bool{}
	for _, r := range results {
		pass[r.Test] = r.Pass
		if r.Path != "inbound/request_test.rego" || r.Field != "spec.policies[2].content" || r.Line == 0 {
			t.Errorf("result %+v does not locate its file", r)
		}
	}
	if !pass["test_research_agent_may_send"] || !pass["test_outsider_is_refused"] || pass["test_team_x_may_call"] {
		t.Errorf("outcomes %v", pass)
	}
	for _, r := range results {
		if r.Test == "test_team_x_may_call" {
			if got := r.Err().Error(); got != "AuthorizationPolicy team-b/planner-agent: spec.policies[2].content: inbound/request_test.rego:12: test test_team_x_may_call failed" {
				t.Errorf("failure message %q", got)
			}
		}
	}

	// A test that does not compile is an error naming its file and line.
	broken := clientPlanner.DeepCopy()
	broken.Spec.Policies = append(broken.Spec.Policies, agentv1.RegoPolicy{Path: "inbound/x_test.rego", Content: "package t\n\ntest_a if undefined_function(1)\n"})
	_, errs = Test(ctx, testSet(broken), []*agentv1.AuthorizationPolicy{broken}, gitopsv1.Limits{})
	if len(errs) != 1 || errs[0].Path != "inbound/x_test.rego" || errs[0].Line != 3 || errs[0].Field != "spec.policies[2].content" {
		t.Fatalf("errors %v, want one at inbound/x_test.rego:3", errs)
	}
}

// TestPeerInput: the mTLS peer reaches policies at the inbound points and at the
// outbound response, and is absent over plaintext.
func TestPeerInput(t *testing.T) {
	const peer = "spiffe://example.org/ns/a/sa/caller"
	call := Call{Caller: Party{ID: peer}, Callee: Party{ID: "spiffe://example.org/ns/b/sa/callee"}, PeerID: peer}
	for _, pt := range Points {
		in := call.Input(pt)
		p, ok := in["peer"].(map[string]any)
		want := pt.Direction == "inbound" || pt.Phase == "response"
		if ok != want || (ok && p["spiffe_id"] != peer) {
			t.Errorf("%s: peer = %v, want present=%v", pt, in["peer"], want)
		}
		if _, ok := (Call{}).Input(pt)["peer"]; ok {
			t.Errorf("%s: a plaintext call has a peer", pt)
		}
	}
}

// TestIdentityInput: the identity and agent of the input document at each point, as
// upstream's runbook and OPA plugin have them: inbound the validated caller is
// identity.client_id and the callee the agent; outbound the calling workload is both
// agent.client_id and identity.client_id, and the callee identity.service_id.
func TestIdentityInput(t *testing.T) {
	const caller, callee = "spiffe://example.org/ns/a/sa/caller", "spiffe://example.org/ns/b/sa/callee"
	call := Call{Caller: Party{ID: caller}, Callee: Party{ID: callee}}
	for _, pt := range Points {
		in := call.Input(pt)
		id, agent := in["identity"].(map[string]any), in["agent"].(map[string]any)
		wantAgent, wantService := callee, any(nil)
		if pt.Direction == "outbound" {
			wantAgent, wantService = caller, callee
		}
		if id["client_id"] != caller || id["subject"] != caller || agent["client_id"] != wantAgent || id["service_id"] != wantService {
			t.Errorf("%s: identity %v, agent %v; want client_id and subject %s, agent %s, service_id %v", pt, id, agent, caller, wantAgent, wantService)
		}
	}
}

// BenchmarkDecide is one decision of the sidecar's request path: research-agent calling
// planner-agent through the default global policy and both narrowing tiers, an allow
// and a deny (the deny names the tier that refused).
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	a := Party{ID: idA, Host: "research-agent.team-a.svc:8080"}
	p := Party{ID: idB, Host: "planner-agent.team-b.svc:8000"}
	bundle, err := Build(testSet(nsTeamB, clientPlanner, clientResearch).Tiers("team-b", "planner-agent"))
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDecider(ctx, bundle, gitopsv1.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		call  Call
		allow bool
	}{
		{"allow", Call{Caller: a, Callee: p, PeerID: idA}, true},
		{"deny", Call{Caller: a, Callee: p, PeerID: idA, A2AMethod: "tasks/cancel"}, false},
	} {
		in := bc.call.Input(Points[0])
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d.Decide(ctx, Points[0], in).Allow != bc.allow {
					b.Fatal("wrong decision")
				}
			}
		})
		// The same document converted once: what the sidecar's request path pays.
		v, err := ast.InterfaceToValue(in)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"_value", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d.DecideValue(ctx, Points[0], v).Allow != bc.allow {
					b.Fatal("wrong decision")
				}
			}
		})
	}
}

// TestDecideValue: an input already in OPA's form is decided as the same document given
// as Go values, by DecideValue and by Decide, in every outcome: allows, tier denies, the
// override, fail closed, evaluation errors, each result shape and bound.
func TestDecideValue(t *testing.T) {
	ctx := context.Background()
	a := Party{ID: idA, Host: "research-agent.team-a.svc:8080"}
	b := Party{ID: idB, Host: "planner-agent.team-b.svc:8000"}
	prober := Party{ID: "spiffe://example.org/ns/monitoring/sa/prober"}
	global := func(body string) *Set {
		g := ap(platformNS, "mine", agentv1.ScopeGlobal)
		for _, pt := range Points {
			g.Spec.Policies = append(g.Spec.Policies, agentv1.RegoPolicy{Path: pt.File(), Content: "package " + Package(agentv1.ScopeGlobal, pt) + "\n" + body})
		}
		return NewSet(platformNS, []*agentv1.AuthorizationPolicy{g})
	}
	bomb := ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego",
		"package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if {\n\t"+timeBomb+"\n}\n")
	short := gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 50 * time.Millisecond}}
	tests := []struct {
		name   string
		set    *Set
		limits gitopsv1.Limits
		input  any
		allow  bool
	}{
		{"allowed by the tiers", testSet(nsTeamB, clientPlanner), gitopsv1.Limits{}, Call{Caller: a, Callee: b, PeerID: idA}.Input(Points[0]), true},
		{"refused by the client tier", testSet(nsTeamB, clientPlanner), gitopsv1.Limits{}, Call{Caller: a, Callee: b, A2AMethod: "tasks/cancel"}.Input(Points[0]), false},
		{"refused by the namespace tier", testSet(nsTeamB, clientPlanner), gitopsv1.Limits{}, Call{Caller: Party{ID: "spiffe://example.org/ns/x/sa/y"}, Callee: b}.Input(Points[0]), false},
		{"forced by the override", testSet(nsTeamB, clientPlanner), gitopsv1.Limits{}, Call{Caller: prober, Callee: b}.Input(Points[0]), true},
		{"no client policy required", NewSet(platformNS, []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true)}), gitopsv1.Limits{}, Call{Caller: a, Callee: b}.Input(Points[0]), false},
		{"no global policy", NewSet(platformNS, []*agentv1.AuthorizationPolicy{clientPlanner}), gitopsv1.Limits{}, Call{Caller: a, Callee: b}.Input(Points[0]), false},
		{"a conflict", testSet(ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true if input.method == \"POST\"\nallow := false if input.path == \"/\"\n")), gitopsv1.Limits{}, Call{}.Input(Points[0]), false},
		{"the policy's reason", global("allow := true\nreason := input.why\n"), gitopsv1.Limits{}, map[string]any{"why": "trusted"}, true},
		{"no allow", global("x := 1\n"), gitopsv1.Limits{}, map[string]any{}, false},
		{"allow not a boolean", global("allow := \"yes\"\n"), gitopsv1.Limits{}, map[string]any{}, false},
		{"a reason not a string", global("allow := false\nreason := 1\n"), gitopsv1.Limits{}, map[string]any{}, false},
		{"an input not an object", testSet(), gitopsv1.Limits{}, []any{"x", 1.5, true}, true},
		{"a null input", global("allow := input == null\n"), gitopsv1.Limits{}, nil, true},
		{"stopped at the time bound", testSet(bomb), short, Call{}.Input(Points[0]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, err := Build(tt.set.Tiers("team-b", "planner-agent"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, bundle, tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			want := d.Decide(ctx, Points[0], tt.input)
			if want.Allow != tt.allow {
				t.Fatalf("Decide: %+v, want allow=%v", want, tt.allow)
			}
			v, err := ast.InterfaceToValue(tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if tt.input == nil {
				v = nil // DecideValue's nil is null too
			}
			for how, got := range map[string]Decision{"DecideValue": d.DecideValue(ctx, Points[0], v), "Decide of an ast.Value": d.Decide(ctx, Points[0], v)} {
				if got.String() != want.String() || (got.Exceeded == nil) != (want.Exceeded == nil) {
					t.Errorf("%s: %+v, want %+v", how, got, want)
				}
			}
		})
	}
}

// TestConstantDecisions: a point whose global module is the default combiner and that
// no tier has a module for is decided once, with the evaluated answer; a tier's module
// at the point, or another global module, makes it evaluated per input.
func TestConstantDecisions(t *testing.T) {
	ctx := context.Background()
	client := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "planner"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{Path: "inbound/response.rego",
			Content: "package authbridge.client.inbound.response\n\ndefault allow := false\n\nallow if input.response.status_code == 200\n"}}}}
	custom := DefaultGlobalPolicy("trustsync-system", false)
	custom.Spec.Policies[3].Content += "\n# changed\n"
	for _, tc := range []struct {
		name     string
		tiers    Tiers
		constant []Point
	}{
		{"the default alone: every point", Tiers{Global: []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy("trustsync-system", false)}}, Points},
		{"a client response policy: the other three", Tiers{Global: []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy("trustsync-system", false)}, Client: client},
			[]Point{Points[0], Points[2], Points[3]}},
		{"a changed global module is evaluated", Tiers{Global: []*agentv1.AuthorizationPolicy{custom}}, Points[:3]},
		{"requireClientPolicy reads the client tier at the requests", Tiers{Global: []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy("trustsync-system", true)}},
			[]Point{Points[1], Points[3]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(tc.tiers)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, b, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			for _, pt := range Points {
				_, constant := d.constant[pt]
				if constant != slices.Contains(tc.constant, pt) {
					t.Errorf("%s: constant %v", pt, constant)
				}
				// Whatever the path, the answer is the evaluated one.
				in := Call{Caller: Party{ID: "spiffe://example.org/ns/a/sa/x"}, Callee: Party{ID: "spiffe://example.org/ns/team-b/sa/planner"}, StatusCode: 500}.Input(pt)
				got := d.Decide(ctx, pt, in)
				delete(d.constant, pt)
				want := d.Decide(ctx, pt, in)
				if got.Allow != want.Allow || got.Reason != want.Reason {
					t.Errorf("%s: constant %+v, evaluated %+v", pt, got, want)
				}
			}
		})
	}
}

// TestDirectDecisionsMatchTheCombiner: deciding from the tiers' rules gives, for every
// point and input, the decision and reason the default combiner gives.
func TestDirectDecisionsMatchTheCombiner(t *testing.T) {
	ctx := context.Background()
	a, b := "spiffe://example.org/ns/team-a/sa/a", "spiffe://example.org/ns/team-b/sa/b"
	ns := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "team-b"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{
			{Path: "inbound/request.rego", Content: "package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if startswith(input.identity.client_id, \"spiffe://example.org/ns/team-\")\n\noverride if input.path == \"/forced\"\n"},
			{Path: "outbound/request.rego", Content: "package authbridge.ns.outbound.request\n\nallow := \"yes\" if input.method == \"POST\"\n"},
		}}}
	client := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "b"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{
			{Path: "inbound/request.rego", Content: "package authbridge.client.inbound.request\n\ndefault allow := false\n\nallow if input.identity.client_id == \"" + a + "\"\n"},
			{Path: "inbound/response.rego", Content: "package authbridge.client.inbound.response\n\nallow if input.response.status_code < 500\n"},
		}}}
	global := func(require bool) []*agentv1.AuthorizationPolicy {
		return []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy("trustsync-system", require)}
	}
	calls := []Call{
		{Caller: Party{ID: a}, Callee: Party{ID: b}},
		{Caller: Party{ID: b}, Callee: Party{ID: a}},
		{Caller: Party{ID: "spiffe://example.org/ns/other/sa/x"}, Callee: Party{ID: b}, Path: "/forced"},
		{Caller: Party{ID: "spiffe://example.org/ns/other/sa/x"}, Callee: Party{ID: b}, Method: "GET", StatusCode: 503},
	}
	for _, tc := range []struct {
		name  string
		tiers Tiers
	}{
		{"namespace and client", Tiers{Global: global(false), Namespace: []*agentv1.AuthorizationPolicy{ns}, Client: client}},
		{"namespace only", Tiers{Global: global(false), Namespace: []*agentv1.AuthorizationPolicy{ns}}},
		{"client only", Tiers{Global: global(false), Client: client}},
		{"client required, none", Tiers{Global: global(true), Namespace: []*agentv1.AuthorizationPolicy{ns}}},
		{"client required, present", Tiers{Global: global(true), Client: client}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bd, err := Build(tc.tiers)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, bd, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.direct) == 0 {
				t.Fatal("no point is decided directly")
			}
			full := *d
			full.direct, full.constant, full.memos = nil, nil, nil
			for _, pt := range Points {
				for _, c := range calls {
					in := c.Input(pt)
					got, want := d.Decide(ctx, pt, in), full.Decide(ctx, pt, in)
					if got.Allow != want.Allow || got.Reason != want.Reason {
						t.Errorf("%s %s→%s %s: direct %v, combiner %v", pt, c.Caller.ID, c.Callee.ID, c.Path, got, want)
					}
				}
			}
		})
	}
}
