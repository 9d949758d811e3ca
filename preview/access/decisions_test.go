package access

import (
	"context"
	"reflect"
	"testing"

	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// TestDecisionKeyCoversTheInput: two calls with the same decision key have the same input
// in every field the decision reads — with every field read, and with the fields real
// bundles read — so a decision kept by its key is the decision of every call it stands
// for.
func TestDecisionKeyCoversTheInput(t *testing.T) {
	var calls []policy.Call
	for _, caller := range []string{"spiffe://x/ns/a/sa/one", "spiffe://x/ns/b/sa/two"} {
		for _, callee := range []string{"spiffe://x/ns/a/sa/one", "spiffe://x/ns/c/sa/three"} {
			for _, host := range []string{"", "three.c.svc:80"} {
				for _, peer := range []string{"", caller} {
					for _, method := range []string{"", "GET"} {
						for _, path := range []string{"", "/admin"} {
							calls = append(calls, policy.Call{Caller: policy.Party{ID: caller, Host: "caller:1"}, Callee: policy.Party{ID: callee, Host: host},
								Method: method, Path: path, PeerID: peer}, policy.Call{Caller: policy.Party{ID: caller}, Callee: policy.Party{ID: callee, Host: host},
								Method: method, Path: path, PeerID: peer, A2AMethod: "tasks/get", StatusCode: 500})
						}
					}
				}
			}
		}
	}
	research, planner := id("team-a", "research-agent"), id("team-b", "planner-agent")
	g := NewGraph(revision([]renderers.Identity{research, planner}, nsPolicy("team-a"), nsPolicy("team-b", research.ID)))
	d, err := g.s.decider(context.Background(), planner.Key())
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range policy.Points {
		read, ok := d.Reads(pt)
		if !ok {
			t.Fatalf("the example bundle's %s decision reads an unknown part of the input", pt)
		}
		for _, f := range []struct {
			name   string
			fields policy.Fields
		}{{"every field", policy.Fields{}}, {"the bundle's fields", read}} {
			seen := map[decisionKey]map[string]any{}
			for _, c := range calls {
				in := restricted(c.Input(pt), f.fields)
				k := keyOf("bundle", pt, f.fields, c)
				if prev, ok := seen[k]; ok && !reflect.DeepEqual(prev, in) {
					t.Fatalf("%s, %s: key %s stands for two inputs:\n%v\n%v", pt, f.name, k, prev, in)
				}
				seen[k] = in
			}
			if f.name == "every field" && len(seen) < len(calls)/4 {
				t.Errorf("%s: %d keys for %d calls: too coarse to tell calls apart", pt, len(seen), len(calls))
			}
		}
	}
}

func restricted(in map[string]any, f policy.Fields) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if f.Has(k) {
			out[k] = v
		}
	}
	return out
}

// TestGraphDecidesOncePerCallerAndBundle: callees of one bundle share its decisions.
func TestGraphDecidesOncePerCallerAndBundle(t *testing.T) {
	ctx := context.Background()
	var ids []renderers.Identity
	for _, ns := range []string{"team-a", "team-b"} {
		for _, name := range []string{"one", "two", "three", "four"} {
			i := id(ns, name)
			i.ServiceAccount = "shared" // no client policy: the namespace's bundle decides
			ids = append(ids, i)
		}
	}
	g := NewGraph(revision(ids, nsPolicy("team-a"), nsPolicy("team-b")))
	for _, a := range ids {
		for _, b := range ids {
			if a.Key() == b.Key() {
				continue
			}
			v, err := g.Verdict(ctx, a.Key(), b.Key())
			if err != nil {
				t.Fatal(err)
			}
			if v.Allow != (a.Namespace == b.Namespace) {
				t.Errorf("%s → %s: allow %v", a.Key(), b.Key(), v.Allow)
			}
		}
	}
	// Inbound: 8 callers × 2 bundles; the other points read nothing the pairs differ in.
	if n := len(g.s.decisions); n > 8*2+3*2 {
		t.Errorf("%d decisions kept for 56 pairs, want at most %d", n, 8*2+3*2)
	}
}
