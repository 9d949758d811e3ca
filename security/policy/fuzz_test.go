package policy

import (
	"context"
	"encoding/json"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// FuzzCheck: no Rego file, however hostile, makes Check panic or run past its bounds;
// what it accepts builds into a bundle.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		nsAllow,
		"package authbridge.ns.inbound.request\n\nimport rego.v1\n\nallow if { some x in numbers.range(1, 1e12); x < 0 }\n",
		"package authbridge.ns.inbound.request\nallow if http.send({\"url\": \"http://127.0.0.1\"})\n",
		"package authbridge.ns.inbound.request\n\nimport rego.v1\n\nf(x) := f(x)\nallow if f(1)\n",
		"package a.b.c\n",
		"package authbridge.ns.inbound.request_test\n\nimport rego.v1\n\ntest_x if { true }\n",
		"\x00\xff{",
	} {
		f.Add("inbound/request.rego", s)
	}
	f.Fuzz(func(t *testing.T, path, content string) {
		p := ap("team-b", "team-b", agentv1.ScopeNamespace, path, content)
		set := []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy("trustsync-system", false), p}
		if errs := Check(set, CheckOptions{PlatformNamespace: "trustsync-system"}); len(errs) > 0 {
			return
		}
		if _, err := Build(NewSet("trustsync-system", set).Tiers("team-b", "planner-agent")); err != nil {
			t.Fatalf("Check accepted %q, Build refuses it: %v", content, err)
		}
	})
}

// FuzzDecide: whatever input document a request makes, the three-tier decision
// answers, allow or deny, within its bounds, and never panics.
func FuzzDecide(f *testing.F) {
	b, err := Build(testSet(nsTeamB, clientPlanner).Tiers("team-b", "planner-agent"))
	if err != nil {
		f.Fatal(err)
	}
	d, err := NewDecider(context.Background(), b, gitopsv1.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	in, _ := json.Marshal(Call{Caller: Party{ID: idA}, Callee: Party{ID: idB}}.Input(Points[0]))
	f.Add(uint8(0), in)
	f.Add(uint8(1), []byte(`{"identity":{"client_id":7},"a2a":null,"headers":[1,2]}`))
	f.Add(uint8(2), []byte(`[[[[[[[]]]]]]]`))
	f.Add(uint8(3), []byte(`"x"`))
	f.Fuzz(func(t *testing.T, point uint8, data []byte) {
		var input any
		if err := json.Unmarshal(data, &input); err != nil {
			return
		}
		dec := d.Decide(context.Background(), Points[int(point)%len(Points)], input)
		if dec.Allow && dec.Exceeded != nil {
			t.Fatalf("allowed past a bound: %+v", dec)
		}
	})
}

// FuzzReadArchive: no bundle archive, trustsync's or upstream's layout, makes the
// readers panic or read past their bounds.
func FuzzReadArchive(f *testing.F) {
	b, err := Build(testSet(nsTeamB).Tiers("team-b", "planner-agent"))
	if err != nil {
		f.Fatal(err)
	}
	archive, err := b.Archive()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(archive)
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadArchive(data, gitopsv1.Limits{})
		_, _ = ReadUpstreamArchive(data, gitopsv1.Limits{})
	})
}
