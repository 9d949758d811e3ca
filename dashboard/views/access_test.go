package views

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

const platformNS = "trustsync-system"

func platform() *gitopsv1.Platform {
	return &gitopsv1.Platform{Namespace: platformNS, TrustDomain: "example.org"}
}

func spiffeID(ns, name string) string { return "spiffe://example.org/ns/" + ns + "/sa/" + name }

// summary is an agent as a Sync reports it, with a sidecar in strict mTLS.
func summary(ns, name string) gitopsv1.AgentSummary {
	return gitopsv1.AgentSummary{Namespace: ns, Name: name, Type: "agent", Workload: "Deployment/" + name, ServiceAccount: name,
		SPIFFEID: spiffeID(ns, name), Host: name + "." + ns + ".svc:8080", Injected: true, Mode: "proxy-sidecar", MTLS: "strict"}
}

// namespacePolicy admits callers of its own namespace, and the SPIFFE IDs allowed.
func namespacePolicy(ns string, allowed ...string) *agentv1.AuthorizationPolicy {
	var b strings.Builder
	b.WriteString("package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if startswith(input.identity.client_id, \"spiffe://example.org/ns/" + ns + "/\")\n")
	for _, a := range allowed {
		b.WriteString("\nallow if input.identity.client_id == \"" + a + "\"\n")
	}
	return &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns + "-inbound"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: b.String()}}}}
}

// onlyFromPolicy admits only the SPIFFE IDs allowed, not even its own namespace.
func onlyFromPolicy(ns string, allowed ...string) *agentv1.AuthorizationPolicy {
	var b strings.Builder
	b.WriteString("package authbridge.ns.inbound.request\n\ndefault allow := false\n")
	for _, a := range allowed {
		b.WriteString("\nallow if input.identity.client_id == \"" + a + "\"\n")
	}
	return &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns + "-inbound"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: b.String()}}}}
}

// teamSyncs are the two Syncs of team-a/research-agent and team-b/planner-agent.
func teamSyncs() []*gitopsv1.Sync {
	a, b := newSync("team-a", "agents"), newSync("team-b", "agents")
	a.Status.Agents = []gitopsv1.AgentSummary{summary("team-a", "research-agent")}
	b.Status.Agents = []gitopsv1.AgentSummary{summary("team-b", "planner-agent")}
	return []*gitopsv1.Sync{b, a}
}

func teamPolicies() []*agentv1.AuthorizationPolicy {
	return []*agentv1.AuthorizationPolicy{
		policy.DefaultGlobalPolicy(platformNS, false),
		onlyFromPolicy("team-b", spiffeID("team-a", "research-agent")),
		namespacePolicy("team-a"),
	}
}

func TestAppliedRevision(t *testing.T) {
	rev := AppliedRevision(teamSyncs(), teamPolicies(), platform())
	want := []renderers.Identity{
		{Namespace: "team-a", Name: "research-agent", Type: "agent", ServiceAccount: "research-agent", ID: spiffeID("team-a", "research-agent"),
			Host: "research-agent.team-a.svc:8080", Injected: true, Mode: "proxy-sidecar", MTLS: "strict"},
		{Namespace: "team-b", Name: "planner-agent", Type: "agent", ServiceAccount: "planner-agent", ID: spiffeID("team-b", "planner-agent"),
			Host: "planner-agent.team-b.svc:8080", Injected: true, Mode: "proxy-sidecar", MTLS: "strict"},
	}
	if !slices.Equal(rev.Identities, want) {
		t.Errorf("identities\n%+v\nwant\n%+v", rev.Identities, want)
	}
	if rev.Policies == nil || rev.Sources == nil {
		t.Errorf("policies %v sources %v", rev.Policies, rev.Sources)
	}
	tiers := rev.Policies.Tiers("team-b", "planner-agent")
	if len(tiers.Global) != 1 || tiers.Global[0].Name != policy.DefaultPolicyName || len(tiers.Namespace) != 1 || tiers.Namespace[0].Name != "team-b-inbound" {
		t.Errorf("planner's tiers %+v", tiers)
	}

	// Defaults and duplicates.
	s1, s2 := newSync("team-a", "first"), newSync("team-a", "second")
	s1.Status.Agents = []gitopsv1.AgentSummary{
		{Namespace: "team-c", Name: "zeta-tool", Type: "tool"}, // no SPIFFE ID, no ServiceAccount
		{Namespace: "team-a", Name: "alpha", ServiceAccount: "alpha-sa", Host: "first"},
	}
	s2.Status.Agents = []gitopsv1.AgentSummary{
		{Namespace: "team-a", Name: "alpha", ServiceAccount: "other-sa", SPIFFEID: "spiffe://x/second", Host: "second"}, // a duplicate: the first Sync says
		{Namespace: "team-b", Name: "beta", SPIFFEID: "spiffe://custom/beta"},
	}
	p := &gitopsv1.Platform{Namespace: platformNS, TrustDomain: "corp.example"}
	rev = AppliedRevision([]*gitopsv1.Sync{s1, s2}, nil, p)
	var got []string
	for _, id := range rev.Identities {
		got = append(got, id.Key()+" sa="+id.ServiceAccount+" id="+id.ID+" host="+id.Host)
	}
	wantKeys := []string{
		"team-a/alpha sa=alpha-sa id=spiffe://corp.example/ns/team-a/sa/alpha-sa host=first",
		"team-b/beta sa=beta id=spiffe://custom/beta host=",
		"team-c/zeta-tool sa=zeta-tool id=spiffe://corp.example/ns/team-c/sa/zeta-tool host=",
	}
	if !slices.Equal(got, wantKeys) {
		t.Errorf("identities\n%v\nwant\n%v", got, wantKeys)
	}

	// The Platform's limits are the revision's.
	p = gitopsv1.DefaultPlatform()
	rev = AppliedRevision(nil, nil, p)
	if rev.Limits != p.Limits || len(rev.Identities) != 0 {
		t.Errorf("limits %+v identities %v", rev.Limits, rev.Identities)
	}
}

func TestParseAccessQuery(t *testing.T) {
	long := strings.Repeat("a", 2000)
	tests := []struct {
		name string
		in   url.Values
		want AccessQuery
	}{
		{"empty", url.Values{}, AccessQuery{}},
		{"all", url.Values{"ns": {"team-a"}, "from": {"team-a/x"}, "to": {"team-b/y"}, "point": {"inbound/request"}, "method": {"post"}, "path": {"/v1"}, "ask": {"1"}},
			AccessQuery{Namespace: "team-a", From: "team-a/x", To: "team-b/y", Point: "inbound/request", Method: "POST", Path: "/v1", Ask: true}},
		{"clipped", url.Values{"ns": {long}, "from": {long}, "to": {long}, "point": {long}, "method": {long}, "path": {long}},
			AccessQuery{Namespace: long[:253], From: long[:507], To: long[:507], Point: long[:32], Method: strings.ToUpper(long[:16]), Path: long[:1024]}},
		{"ask empty is not asked", url.Values{"ask": {""}}, AccessQuery{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseAccessQuery(tt.in); got != tt.want {
				t.Errorf("ParseAccessQuery = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewAccessPage(t *testing.T) {
	ctx := context.Background()
	research, planner := "team-a/research-agent", "team-b/planner-agent"
	graph := func() *access.Graph { return access.NewGraph(AppliedRevision(teamSyncs(), teamPolicies(), platform())) }

	p := NewAccessPage(ctx, graph(), AccessQuery{})
	if p.Error != "" {
		t.Fatal(p.Error)
	}
	if len(p.Identities) != 2 || p.Identities[0].Key() != research || p.Identities[1].Key() != planner {
		t.Fatalf("identities %+v", p.Identities)
	}
	if p.Groups != nil || len(p.Matrix) != 2 {
		t.Fatalf("matrix %+v groups %+v", p.Matrix, p.Groups)
	}
	wantMatrix := [][]Cell{
		{{Self: true, From: research, To: research}, {Allow: true, Cross: true, From: research, To: planner}},
		{{Cross: true, From: planner, To: research}, {Self: true, From: planner, To: planner}},
	}
	for i := range wantMatrix {
		if !slices.Equal(p.Matrix[i], wantMatrix[i]) {
			t.Errorf("matrix[%d] = %+v, want %+v", i, p.Matrix[i], wantMatrix[i])
		}
	}
	if p.Pairs != 2 || p.Allowed != 1 || p.CrossNamespace != 1 {
		t.Errorf("pairs %d allowed %d cross %d, want 2 1 1", p.Pairs, p.Allowed, p.CrossNamespace)
	}
	if !slices.Equal(p.Namespaces, []string{"team-a", "team-b"}) {
		t.Errorf("namespaces %v", p.Namespaces)
	}
	if p.Edge != nil || p.WhatIf != nil {
		t.Errorf("edge %+v what-if %+v without asking", p.Edge, p.WhatIf)
	}

	t.Run("edge explains the refusal", func(t *testing.T) {
		p := NewAccessPage(ctx, graph(), AccessQuery{From: planner, To: research})
		e := p.Edge
		if e == nil {
			t.Fatal("no edge")
		}
		if e.From.Key() != planner || e.To.Key() != research || !e.Cross || e.Verdict.Allow || !e.Verdict.Exists {
			t.Errorf("edge %+v", e)
		}
		if r := e.Verdict.Refusal(); !strings.HasPrefix(r, "inbound/request: ") || !strings.Contains(r, "team-a/team-a-inbound") {
			t.Errorf("refusal %q: want the inbound refusal by team-a's namespace policy", r)
		}
		if e.Verdict.Inbound.Allow || !e.Verdict.Outbound.Allow {
			t.Errorf("inbound %+v outbound %+v: want only inbound refusing", e.Verdict.Inbound, e.Verdict.Outbound)
		}
		// Each deciding policy with its file for the point, or the word that it has none.
		wantIn := []string{"global " + platformNS + "/" + policy.DefaultPolicyName + ": inbound/request.rego", "namespace team-a/team-a-inbound: inbound/request.rego"}
		wantOut := []string{"global " + platformNS + "/" + policy.DefaultPolicyName + ": outbound/request.rego", "namespace team-b/team-b-inbound (no outbound/request.rego)"}
		if !slices.Equal(e.Inbound, wantIn) || !slices.Equal(e.Outbound, wantOut) {
			t.Errorf("inbound policies %v outbound %v, want %v and %v", e.Inbound, e.Outbound, wantIn, wantOut)
		}

		p = NewAccessPage(ctx, graph(), AccessQuery{From: research, To: planner})
		if p.Edge == nil || !p.Edge.Verdict.Allow || p.Edge.Verdict.Refusal() != "" {
			t.Errorf("research → planner edge %+v", p.Edge)
		}
	})

	t.Run("no edge for unknown or equal keys", func(t *testing.T) {
		for _, q := range []AccessQuery{
			{From: research, To: research},
			{From: research, To: "team-c/ghost"},
			{From: "team-c/ghost", To: planner},
			{From: research},
		} {
			if p := NewAccessPage(ctx, graph(), q); p.Edge != nil {
				t.Errorf("%+v: edge %+v", q, p.Edge)
			}
		}
	})

	t.Run("what if", func(t *testing.T) {
		tests := []struct {
			name     string
			q        AccessQuery
			allow    bool
			err      string // substring; "" for none
			policies []string
		}{
			{"planner → research inbound denied", AccessQuery{From: planner, To: research, Point: "inbound/request", Method: "GET", Path: "/health", Ask: true},
				false, "", []string{"global " + platformNS + "/default: inbound/request.rego", "namespace team-a/team-a-inbound: inbound/request.rego"}},
			{"research → planner inbound allowed", AccessQuery{From: research, To: planner, Point: "inbound/request", Ask: true},
				true, "", []string{"global " + platformNS + "/default: inbound/request.rego", "namespace team-b/team-b-inbound: inbound/request.rego"}},
			{"outbound: the caller's policies", AccessQuery{From: planner, To: research, Point: "outbound/request.rego", Method: "POST", Path: "/", Ask: true},
				true, "", []string{"global " + platformNS + "/default: outbound/request.rego", "namespace team-b/team-b-inbound (no outbound/request.rego)"}},
			{"invalid point", AccessQuery{From: planner, To: research, Point: "sideways/request", Ask: true}, false, "is not a decision point", nil},
			{"no point", AccessQuery{From: planner, To: research, Ask: true}, false, "is not a decision point", nil},
			{"bad method", AccessQuery{From: planner, To: research, Point: "inbound/request", Method: "FOO", Ask: true}, false, "method FOO is not an HTTP method", nil},
			{"relative path", AccessQuery{From: planner, To: research, Point: "inbound/request", Path: "health", Ask: true}, false, "the path must start with /", nil},
			{"unknown identity", AccessQuery{From: planner, To: "team-c/ghost", Point: "inbound/request", Ask: true}, false, "both must be agents or tools", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := NewAccessPage(ctx, graph(), tt.q)
				w := p.WhatIf
				if w == nil {
					t.Fatal("no what-if")
				}
				if w.Point != tt.q.Point {
					t.Errorf("point %q", w.Point)
				}
				if tt.err == "" && w.Error != "" || tt.err != "" && !strings.Contains(w.Error, tt.err) {
					t.Fatalf("error %q, want %q", w.Error, tt.err)
				}
				if w.Decision.Allow != tt.allow || !slices.Equal(w.Policies, tt.policies) {
					t.Errorf("decision %+v policies %v, want allow %v policies %v", w.Decision, w.Policies, tt.allow, tt.policies)
				}
				if tt.err == "" && !tt.allow && w.Decision.Reason == "" {
					t.Errorf("a denial without a reason: %+v", w.Decision)
				}
			})
		}
		// Through the URL: the method is upper-cased before it is checked.
		q := ParseAccessQuery(url.Values{"from": {planner}, "to": {research}, "point": {"inbound/request"}, "method": {"get"}, "ask": {"y"}})
		if w := NewAccessPage(ctx, graph(), q).WhatIf; w == nil || w.Error != "" || w.Decision.Allow {
			t.Errorf("what-if from the URL: %+v", w)
		}
	})

	t.Run("namespace narrows", func(t *testing.T) {
		syncs := teamSyncs()
		c := newSync("team-c", "tools")
		c.Status.Agents = []gitopsv1.AgentSummary{summary("team-c", "weather-tool"), summary("team-c", "calendar-tool")}
		syncs = append(syncs, c)
		g := access.NewGraph(AppliedRevision(syncs, teamPolicies(), platform()))

		p := NewAccessPage(ctx, g, AccessQuery{Namespace: "team-c"})
		if p.Error != "" {
			t.Fatal(p.Error)
		}
		var keys []string
		for _, id := range p.Identities {
			keys = append(keys, id.Key())
		}
		if !slices.Equal(keys, []string{"team-c/calendar-tool", "team-c/weather-tool"}) {
			t.Errorf("identities %v", keys)
		}
		if len(p.Matrix) != 2 || len(p.Matrix[0]) != 2 || !p.Matrix[0][1].Allow || p.Matrix[0][1].Cross {
			t.Errorf("matrix %+v", p.Matrix)
		}
		// Every namespace is listed; the pairs counted are those into and out of team-c:
		// 2 within it, and 2×2 each way with the 2 others.
		if !slices.Equal(p.Namespaces, []string{"team-a", "team-b", "team-c"}) {
			t.Errorf("namespaces %v", p.Namespaces)
		}
		// Allowed: within team-c (no policy) 2; team-c → team-a refused (its own only);
		// team-c → team-b refused (research only); into team-c from all 4 allowed.
		if p.Pairs != 10 || p.Allowed != 6 || p.CrossNamespace != 4 {
			t.Errorf("pairs %d allowed %d cross %d, want 10 6 4", p.Pairs, p.Allowed, p.CrossNamespace)
		}
		// The edge may reach outside the namespace.
		p = NewAccessPage(ctx, g, AccessQuery{Namespace: "team-c", From: research, To: planner})
		if p.Edge == nil || !p.Edge.Verdict.Allow {
			t.Errorf("edge %+v", p.Edge)
		}
	})
}

func TestNewAccessPageGroups(t *testing.T) {
	ctx := context.Background()
	namespaces := []string{"team-a", "team-b", "team-c"}
	var syncs []*gitopsv1.Sync
	for _, ns := range namespaces {
		s := newSync(ns, "agents")
		for i := range 15 {
			s.Status.Agents = append(s.Status.Agents, summary(ns, fmt.Sprintf("agent-%02d", i)))
		}
		syncs = append(syncs, s)
	}
	n := 45
	// team-a admits only itself; team-b and team-c have no policy of their own.
	g := access.NewGraph(AppliedRevision(syncs, []*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false), namespacePolicy("team-a")}, platform()))
	p := NewAccessPage(ctx, g, AccessQuery{})
	if p.Error != "" {
		t.Fatal(p.Error)
	}
	if len(p.Identities) != n || p.Matrix != nil || p.Groups == nil {
		t.Fatalf("%d identities, matrix %v, groups %v: want %d, no matrix, groups", len(p.Identities), p.Matrix != nil, p.Groups, n)
	}
	gm := p.Groups
	if !slices.Equal(gm.Namespaces, namespaces) || len(gm.Pairs) != 3 || len(gm.Allowed) != 3 {
		t.Fatalf("groups %+v", gm)
	}
	sum := 0
	for i := range 3 {
		for j := range 3 {
			sum += gm.Pairs[i][j]
			want := 15 * 15
			if i == j {
				want = 15 * 14
			}
			if gm.Pairs[i][j] != want {
				t.Errorf("pairs[%d][%d] = %d, want %d", i, j, gm.Pairs[i][j], want)
			}
			wantAllowed := gm.Pairs[i][j]
			if j == 0 && i != 0 { // into team-a from elsewhere
				wantAllowed = 0
			}
			if gm.Allowed[i][j] != wantAllowed {
				t.Errorf("allowed[%d][%d] = %d, want %d", i, j, gm.Allowed[i][j], wantAllowed)
			}
		}
	}
	if sum != n*(n-1) || p.Pairs != n*(n-1) {
		t.Errorf("pairs sum %d, page pairs %d, want %d", sum, p.Pairs, n*(n-1))
	}
	if want := n*(n-1) - 2*15*15; p.Allowed != want || p.CrossNamespace != want-3*15*14 {
		t.Errorf("allowed %d cross %d, want %d and %d", p.Allowed, p.CrossNamespace, want, want-3*15*14)
	}

	// Narrowed to one namespace of 15, the matrix is drawn again.
	p = NewAccessPage(ctx, g, AccessQuery{Namespace: "team-b"})
	if len(p.Identities) != 15 || p.Groups != nil || len(p.Matrix) != 15 {
		t.Errorf("team-b: %d identities, groups %v, matrix %d", len(p.Identities), p.Groups, len(p.Matrix))
	}
	if p.Pairs != 15*14+2*15*30 {
		t.Errorf("team-b pairs %d, want %d", p.Pairs, 15*14+2*15*30)
	}
}

// TestNewAccessPageStopsAtABound: a decision stopped at a bound of the Platform's limits
// is the page's Error, naming the policy and the limit.
func TestNewAccessPageStopsAtABound(t *testing.T) {
	bomb := namespacePolicy("team-b")
	bomb.Spec.Policies[0].Content = "package authbridge.ns.inbound.request\n\nimport rego.v1\n\nallow if {\n\tcount({x | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000); x := a + b + c}) > 0\n}\n"
	p := platform()
	p.Limits = gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 50 * time.Millisecond}}
	g := access.NewGraph(AppliedRevision(teamSyncs(), []*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false), bomb}, p))
	page := NewAccessPage(context.Background(), g, AccessQuery{})
	for _, want := range []string{"deciding inbound/request", "AuthorizationPolicy team-b/team-b-inbound", "limits.regoTimeout"} {
		if !strings.Contains(page.Error, want) {
			t.Errorf("error %q: want it to name %q", page.Error, want)
		}
	}
	if page.Allowed != 0 {
		t.Errorf("allowed %d after a stopped decision", page.Allowed)
	}
}
