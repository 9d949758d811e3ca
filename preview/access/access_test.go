package access

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

const platformNS = "trustsync-system"

func id(ns, name string) renderers.Identity {
	return renderers.Identity{Namespace: ns, Name: name, Type: "agent", ServiceAccount: name,
		ID: "spiffe://example.org/ns/" + ns + "/sa/" + name, Host: name + "." + ns + ".svc:8000"}
}

func nsPolicy(ns string, allowed ...string) *agentv1.AuthorizationPolicy {
	var b strings.Builder
	b.WriteString("package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if startswith(input.identity.client_id, \"spiffe://example.org/ns/" + ns + "/\")\n")
	for _, a := range allowed {
		b.WriteString("\nallow if input.identity.client_id == \"" + a + "\"\n")
	}
	return &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: b.String()}}}}
}

func revision(ids []renderers.Identity, policies ...*agentv1.AuthorizationPolicy) Revision {
	all := append([]*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false)}, policies...)
	src := map[string]string{}
	for _, p := range policies {
		src[p.Namespace+"/"+p.Name] = p.Namespace + "/policies.yaml"
	}
	return Revision{Identities: ids, Policies: policy.NewSet(platformNS, all), Sources: src}
}

func TestCompare(t *testing.T) {
	ctx := context.Background()
	research, planner, calendar := id("team-a", "research-agent"), id("team-b", "planner-agent"), id("team-b", "calendar-tool")
	ids := []renderers.Identity{research, calendar, planner}

	base := revision(ids, nsPolicy("team-a"), nsPolicy("team-b", research.ID))
	t.Run("nothing changed: nothing evaluated", func(t *testing.T) {
		res, err := Compare(ctx, base, base)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 0 || res.Evaluated != 0 || res.Pairs != 6 {
			t.Fatalf("changes %v, evaluated %d, pairs %d", res.Changes, res.Evaluated, res.Pairs)
		}
		// The matrix of a small revision is there all the same.
		if !res.Matrix[0][2].Allow || res.Matrix[2][0].Allow {
			t.Errorf("matrix: research→planner %v, planner→research %v", res.Matrix[0][2], res.Matrix[2][0])
		}
	})

	t.Run("team-a admits planner-agent: one new cross-namespace call", func(t *testing.T) {
		head := revision(ids, nsPolicy("team-a", planner.ID), nsPolicy("team-b", research.ID))
		res, err := Compare(ctx, base, head)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 1 {
			t.Fatalf("changes %+v, want 1", res.Changes)
		}
		c := res.Changes[0]
		if got := c.Sentence(); got != "team-b/planner-agent may now call team-a/research-agent" {
			t.Errorf("sentence %q", got)
		}
		if !c.Granted() || !c.CrossNamespace {
			t.Errorf("granted %v cross-namespace %v", c.Granted(), c.CrossNamespace)
		}
		if len(c.Causes) != 1 || c.Causes[0] != "team-a/policies.yaml: AuthorizationPolicy team-a/team-a (inbound/request.rego)" {
			t.Errorf("causes %v", c.Causes)
		}
		if !strings.Contains(c.Before.Refusal(), "refused by the namespace tier (team-a/team-a)") {
			t.Errorf("before: %q", c.Before.Refusal())
		}
		// Only pairs involving team-a's identity (whose bundle changed) are considered,
		// 4 of the 6; each takes the changed decision in both revisions, and the shared
		// one only where the changed one flipped (research→…: no flip).
		if res.Considered != 4 || res.Evaluated != 4*2+1 {
			t.Errorf("considered %d pairs with %d decisions, want 4 with 9", res.Considered, res.Evaluated)
		}
	})

	t.Run("team-b stops admitting research-agent: access removed", func(t *testing.T) {
		head := revision(ids, nsPolicy("team-a"), nsPolicy("team-b"))
		res, err := Compare(ctx, base, head)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range res.Changes {
			got = append(got, c.Sentence())
		}
		want := "team-a/research-agent may no longer call team-b/calendar-tool,team-a/research-agent may no longer call team-b/planner-agent"
		if strings.Join(got, ",") != want {
			t.Errorf("changes %v, want %s", got, want)
		}
	})

	t.Run("a new agent and a removed one", func(t *testing.T) {
		weather := id("team-b", "weather-tool")
		head := revision([]renderers.Identity{research, planner, weather}, nsPolicy("team-a"), nsPolicy("team-b", research.ID))
		res, err := Compare(ctx, base, head)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, c := range res.Changes {
			got[c.Sentence()] = true
		}
		for _, want := range []string{
			"team-a/research-agent may call team-b/weather-tool (new)",
			"team-b/weather-tool may call team-b/planner-agent (new)",
			"team-a/research-agent no longer calls team-b/calendar-tool (removed)",
		} {
			if !got[want] {
				t.Errorf("missing %q in %v", want, got)
			}
		}
		if len(res.Removed) != 1 || res.Removed[0].Key() != "team-b/calendar-tool" {
			t.Errorf("removed %v", res.Removed)
		}
	})

	t.Run("an outbound client policy narrows the caller", func(t *testing.T) {
		out := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "research-agent"},
			Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{Path: "outbound/request.rego",
				Content: "package authbridge.client.outbound.request\n\ndefault allow := false\n\nallow if input.host == \"planner-agent.team-b.svc:8000\"\n"}}}}
		head := revision(ids, nsPolicy("team-a"), nsPolicy("team-b", research.ID), out)
		res, err := Compare(ctx, base, head)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 1 || res.Changes[0].Sentence() != "team-a/research-agent may no longer call team-b/calendar-tool" ||
			!strings.HasPrefix(res.Changes[0].After.Refusal(), "outbound/request: refused by the client tier (team-a/research-agent)") {
			t.Fatalf("changes %+v", res.Changes)
		}
		if res.Changes[0].Causes[0] != "team-a/policies.yaml: AuthorizationPolicy team-a/research-agent (added)" {
			t.Errorf("causes %v", res.Changes[0].Causes)
		}
	})
}

// TestCompareStopsAtABound: a decision stopped at a bound of the revision's limits ends
// the comparison with an error naming the revision, the call, the policy's file, object
// and field, and the limit; the rest of the pairs are not evaluated.
func TestCompareStopsAtABound(t *testing.T) {
	ctx := context.Background()
	research, planner := id("team-a", "research-agent"), id("team-b", "planner-agent")
	ids := []renderers.Identity{research, planner}
	base := revision(ids, nsPolicy("team-b"))
	bomb := nsPolicy("team-b")
	bomb.Spec.Policies[0].Content = "package authbridge.ns.inbound.request\n\nimport rego.v1\n\nallow if {\n\tcount({x | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000); x := a + b + c}) > 0\n}\n"
	head := revision(ids, bomb)
	head.Limits = gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 50 * time.Millisecond}}
	_, err := Compare(ctx, base, head)
	want := "the head revision: deciding inbound/request for " + research.ID + " calling " + planner.ID +
		": team-b/policies.yaml: AuthorizationPolicy team-b/team-b: spec.policies[0].content: inbound/request.rego:6: the Rego evaluation did not finish in time, over the bound 50ms (Platform limits.regoTimeout)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}

// TestPeerInPreviews: a policy that admits callers by their mTLS SVID admits a strict
// caller in the preview, and not one whose sidecar dials plaintext (permissive).
func TestPeerInPreviews(t *testing.T) {
	ctx := context.Background()
	sidecar := func(i renderers.Identity, mtls string) renderers.Identity {
		i.Injected, i.Mode, i.MTLS = true, string(agentv1.AuthBridgeProxySidecar), mtls
		return i
	}
	strict, permissive := sidecar(id("team-a", "strict-agent"), "strict"), sidecar(id("team-a", "permissive-agent"), "permissive")
	callee := sidecar(id("team-b", "planner-agent"), "strict")
	byPeer := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "team-b"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego",
			Content: "package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if input.peer.spiffe_id == input.identity.client_id\n"}}}}
	rev := revision([]renderers.Identity{strict, permissive, callee}, byPeer)
	res, err := Compare(ctx, rev, rev)
	if err != nil {
		t.Fatal(err)
	}
	// The matrix is in the revision's order: strict-agent, permissive-agent, planner-agent.
	if !res.Matrix[0][2].Allow {
		t.Errorf("strict caller → planner: %+v, want allowed (its SVID is the peer)", res.Matrix[0][2])
	}
	if res.Matrix[1][2].Allow {
		t.Errorf("permissive caller → planner: %+v, want refused (plaintext: no peer)", res.Matrix[1][2])
	}
}

// Compare visits only the rows and columns of identities that changed; what it finds
// must be what visiting every pair finds, in the same order.
func TestCompareSkipsOnlySteadyPairs(t *testing.T) {
	ctx := context.Background()
	var ids []renderers.Identity
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		for _, n := range []string{"one", "two", "three", "four"} {
			ids = append(ids, id(ns, n))
		}
	}
	base := revision(ids, nsPolicy("team-a"), nsPolicy("team-b", ids[0].ID), nsPolicy("team-c"))
	moved := slices.Clone(ids[1:]) // team-a/one removed
	moved[3].Host = "elsewhere.team-b.svc:8000"
	moved[5].ID = "spiffe://other.example.org/ns/team-b/sa/three"
	moved = append(moved, id("team-c", "five"))
	head := revision(moved, nsPolicy("team-a", ids[6].ID), nsPolicy("team-b", ids[0].ID), nsPolicy("team-c", ids[5].ID))

	res, err := Compare(ctx, base, head)
	if err != nil {
		t.Fatal(err)
	}
	// Every pair, as Compare did before it skipped any.
	shared, decisions, hashes := map[string]*policy.Decider{}, map[decisionKey]policy.Decision{}, fingerprints{}
	b, h := newSide(base, shared, decisions, hashes), newSide(head, shared, decisions, hashes)
	var pairs, considered, evaluated int
	var want []string
	all := unionKeys(base.Identities, head.Identities)
	for _, caller := range all {
		for _, callee := range all {
			if caller == callee {
				continue
			}
			if b.has(caller, callee) || h.has(caller, callee) {
				pairs++
			}
			before, after, n, changed := compare(ctx, b, h, caller, callee)
			evaluated += n
			if n > 0 {
				considered++
			}
			if changed {
				c := Change{Caller: h.identity(caller, b), Callee: h.identity(callee, b), Before: before, After: after}
				want = append(want, c.Sentence())
			}
		}
	}
	var got []string
	for _, c := range res.Changes {
		got = append(got, c.Sentence())
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(want) == 0 || res.Pairs != pairs || res.Considered != considered || res.Evaluated != evaluated {
		t.Errorf("pairs %d considered %d evaluated %d, want %d %d %d (changes %d)", res.Pairs, res.Considered, res.Evaluated, pairs, considered, evaluated, len(want))
	}
}
