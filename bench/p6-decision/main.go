// P6: policy decisions and bundle rebuilds.
//
// Decision latency of the three-tier default policy (global combiner, a namespace tier,
// a client tier) with trustsync's Decider, whose queries are prepared once per bundle,
// on inputs in OPA's form as the sidecar builds them: every input distinct (each
// decision is evaluated), then 100 callers calling again and again (the memo answers),
// against a baseline in the same run that builds and evaluates the query per call
// (rego.New(...).Eval), as a policy engine without prepared queries does.
//
// Memo share: of the decision points of every identity in the example repositories,
// those the Decider remembers (constant, or rules reading known input fields only).
//
// Rebuild: the bundle server's index holds 1,000 identities' client policies (in 20
// namespaces with a namespace policy each) and every bundle is cached; one client policy
// changes; rebuild_ms is the time until that identity is served its new bundle, and
// rebuilt counts the bundles built for it (1: the other 999 stay cached).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/security/policy/bundleserver"
)

const platformNS = "trustsync-system"

func main() {
	decisions := flag.Int("decisions", 20000, "decisions with prepared queries")
	baseline := flag.Int("baseline", 500, "decisions of the per-call baseline (each compiles the policies)")
	identities := flag.Int("identities", 1000, "identities in the rebuild measurement")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the distinct decisions here")
	flag.Parse()
	ctx := context.Background()

	stopProfile := benchutil.CPUProfile(*cpuprofile)
	p50, p99, err := prepared(ctx, *decisions, *decisions)
	stopProfile()
	if err != nil {
		benchutil.Fatal(err)
	}
	m50, m99, err := prepared(ctx, *decisions, 100)
	if err != nil {
		benchutil.Fatal(err)
	}
	served, points, err := memoShare(ctx)
	if err != nil {
		benchutil.Fatal(err)
	}
	b50, b99, err := perCall(ctx, *baseline)
	if err != nil {
		benchutil.Fatal(err)
	}
	rebuild, rebuilt, warm, err := rebuildOne(ctx, *identities)
	if err != nil {
		benchutil.Fatal(err)
	}
	fmt.Printf("prepared: %d distinct decisions p50 %v p99 %v; 100 callers repeated: p50 %v p99 %v; per-call baseline: %d decisions p50 %v p99 %v\n", *decisions, p50, p99, m50, m99, *baseline, b50, b99)
	fmt.Printf("memo: %d of the %d decision points of the example identities are remembered\n", served, points)
	fmt.Printf("bundle server: %d bundles built cold in %v; one client policy changed: rebuilt %d in %v\n", *identities, warm, rebuilt, rebuild)
	benchutil.Result("P6",
		"decisions", fmt.Sprint(*decisions),
		"p50_us", us(p50), "p99_us", us(p99),
		"baseline_p50_us", us(b50), "baseline_p99_us", us(b99),
		"ratio", fmt.Sprintf("%.0f", float64(b50)/float64(p50)),
		"memo_p50_us", us(m50), "memo_p99_us", us(m99),
		"memo_points", fmt.Sprint(served), "example_points", fmt.Sprint(points),
		"memo_share", fmt.Sprintf("%.2f", float64(served)/float64(points)),
		"identities", fmt.Sprint(*identities),
		"cold_build_ms", benchutil.Ms(warm),
		"rebuild_ms", benchutil.Ms(rebuild),
		"rebuilt", fmt.Sprint(rebuilt),
	)
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000) }

// tiers is the three-tier setup of one identity: the default global policy, a namespace
// policy admitting the namespace and one outside caller, and a client policy.
func tiers(ns, sa string) []*agentv1.AuthorizationPolicy {
	nsPolicy := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace,
		Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: fmt.Sprintf(`package authbridge.ns.inbound.request

default allow := false

allow if startswith(input.identity.client_id, "spiffe://example.org/ns/%s/")

allow if input.identity.client_id == "spiffe://example.org/ns/gateway/sa/ingress"
`, ns)}}}}
	client := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient,
		Policies: []agentv1.RegoPolicy{{Path: "inbound/request.rego", Content: `package authbridge.client.inbound.request

default allow := false

allow if {
	input.a2a.method in {"message/send", "message/stream", "tasks/get"}
	input.method == "POST"
}
`}}}}
	return []*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false), nsPolicy, client}
}

// input is the inbound/request input of a call from caller to team-0's agent-0, in
// OPA's form.
func input(caller string) (ast.Value, error) {
	call := policy.Call{
		Caller: policy.Party{ID: caller},
		Callee: policy.Party{ID: "spiffe://example.org/ns/team-0/sa/agent-0", Host: "agent-0.team-0.svc:8000"},
	}
	return ast.InterfaceToValue(call.Input(policy.Points[0]))
}

// prepared times n decisions with the prepared Decider, cycling through callers
// distinct callers of team-0 (all allowed by its namespace tier).
func prepared(ctx context.Context, n, callers int) (time.Duration, time.Duration, error) {
	set := policy.NewSet(platformNS, tiers("team-0", "agent-0"))
	b, err := policy.Build(set.Tiers("team-0", "agent-0"))
	if err != nil {
		return 0, 0, err
	}
	d, err := policy.NewDecider(ctx, b, gitopsv1.Limits{})
	if err != nil {
		return 0, 0, err
	}
	// Each input is built as a request brings it, untimed: the sidecar keeps no
	// thousands of inputs alive, and the garbage collector's work should not be theirs.
	times := make([]time.Duration, n)
	for i := range n {
		in, err := input(fmt.Sprintf("spiffe://example.org/ns/team-0/sa/caller-%d", i%callers))
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		dec := d.DecideValue(ctx, policy.Points[0], in)
		times[i] = time.Since(start)
		if !dec.Allow {
			return 0, 0, fmt.Errorf("expected an allow, got %v", dec)
		}
	}
	return percentiles(times)
}

// memoShare counts, over every identity of the example repositories and the four
// points, the decision points the Decider remembers.
func memoShare(ctx context.Context) (served, points int, err error) {
	p, err := gitopsv1.LoadPlatform("examples/platform.yaml")
	if err != nil {
		return 0, 0, err
	}
	root, err := os.OpenRoot("examples")
	if err != nil {
		return 0, 0, err
	}
	defer root.Close()
	for _, dir := range []string{"single-agent", "multi-tenant", "modes"} {
		res, err := renderers.Render(root.FS(), dir, renderers.Options{Platform: p})
		if err != nil {
			return 0, 0, fmt.Errorf("render examples/%s: %w", dir, err)
		}
		set := policy.NewSet(p.Namespace, res.AuthorizationPolicies())
		for _, id := range res.Identities(p.TrustDomain) {
			b, err := policy.Build(set.Tiers(id.Namespace, id.ServiceAccount))
			if err != nil {
				return 0, 0, err
			}
			d, err := policy.NewDecider(ctx, b, p.Limits)
			if err != nil {
				return 0, 0, err
			}
			for _, pt := range policy.Points {
				points++
				if d.Remembers(pt) {
					served++
				}
			}
		}
	}
	if points == 0 {
		return 0, 0, fmt.Errorf("the examples have no identities")
	}
	return served, points, nil
}

// perCall evaluates the same decision the way a caller without prepared queries does:
// a new rego.Rego with the modules, compiled and evaluated for every request.
func perCall(ctx context.Context, n int) (time.Duration, time.Duration, error) {
	set := policy.NewSet(platformNS, tiers("team-0", "agent-0"))
	b, err := policy.Build(set.Tiers("team-0", "agent-0"))
	if err != nil {
		return 0, 0, err
	}
	var opts []func(*rego.Rego)
	for _, f := range b.Files {
		opts = append(opts, rego.Module(f.Path, f.Content))
	}
	in, err := input("spiffe://example.org/ns/gateway/sa/ingress")
	if err != nil {
		return 0, 0, err
	}
	times, err := benchutil.Time(n, func() error {
		r := rego.New(append([]func(*rego.Rego){rego.Query(policy.Query(policy.Points[0]) + ".allow"), rego.ParsedInput(in)}, opts...)...)
		rs, err := r.Eval(ctx)
		if err != nil {
			return err
		}
		if !rs.Allowed() && (len(rs) == 0 || rs[0].Expressions[0].Value != true) {
			return fmt.Errorf("baseline: expected an allow, got %v", rs)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return percentiles(times)
}

func percentiles(d []time.Duration) (time.Duration, time.Duration, error) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100], nil
}

func rebuildOne(ctx context.Context, n int) (rebuild time.Duration, rebuilt int64, cold time.Duration, err error) {
	ix := bundleserver.NewIndex(platformNS)
	var ids []identity.Workload
	for i := range n {
		ns := fmt.Sprintf("team-%d", i%20)
		sa := fmt.Sprintf("agent-%d", i)
		for _, p := range tiers(ns, sa) {
			ix.Upsert(p)
		}
		ids = append(ids, identity.Workload{TrustDomain: "example.org", Namespace: ns, ServiceAccount: sa})
	}
	ix.MarkSynced()
	srv := bundleserver.New(ix, bundleserver.Options{TrustDomain: spiffeid.RequireTrustDomainFromString("example.org")})
	start := time.Now()
	etags := make([]string, n)
	for i, w := range ids {
		if etags[i], _, err = srv.Bundle(ctx, w); err != nil {
			return 0, 0, 0, err
		}
	}
	cold = time.Since(start)

	target := ids[n/2]
	changed := tiers(target.Namespace, target.ServiceAccount)[2]
	changed.Spec.Policies[0].Content += "\nallow if input.identity.client_id == \"spiffe://example.org/ns/ops/sa/oncall\"\n"
	before := srv.Builds()
	start = time.Now()
	ix.Upsert(changed)
	etag, _, err := srv.Bundle(ctx, target)
	rebuild = time.Since(start)
	if err != nil {
		return 0, 0, 0, err
	}
	if etag == etags[n/2] {
		return 0, 0, 0, fmt.Errorf("the changed identity's bundle did not change")
	}
	// Every other identity is still served from the cache.
	for i, w := range ids {
		if i == n/2 {
			continue
		}
		e, _, err := srv.Bundle(ctx, w)
		if err != nil {
			return 0, 0, 0, err
		}
		if e != etags[i] {
			return 0, 0, 0, fmt.Errorf("%s's bundle changed though its policies did not", w)
		}
	}
	return rebuild, srv.Builds() - before, cold, nil
}
