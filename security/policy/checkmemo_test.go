package policy

import (
	"fmt"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// TestCheckMemo: with a memo, Check reports what it reports without one, through
// changes of the policies and of the options; only policies that passed are kept.
func TestCheckMemo(t *testing.T) {
	good := ap("team-a", "planner", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow if input.method == \"GET\"\n")
	broken := ap("team-a", "broken", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow if undefined_fn(input)\n")
	nsA := ap("team-a", "team-a", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\n\nallow if true\n")
	clash := ap("team-a", "clash", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\n\nallow := false\n")
	changed := ap("team-a", "planner", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow if input.method == \"POST\" {\n")
	base := CheckOptions{PlatformNamespace: platformNS}
	other := base
	other.PlatformNamespace = "elsewhere"
	global := DefaultGlobalPolicy(platformNS, false)

	memo := &CheckMemo{}
	for i, tc := range []struct {
		policies []*agentv1.AuthorizationPolicy
		o        CheckOptions
	}{
		{[]*agentv1.AuthorizationPolicy{global, good, broken}, base},
		{[]*agentv1.AuthorizationPolicy{global, good, broken}, base},     // all remembered but broken
		{[]*agentv1.AuthorizationPolicy{global, changed}, base},          // planner changed: a parse error
		{[]*agentv1.AuthorizationPolicy{global, good, nsA, clash}, base}, // each passes alone, not together
		{[]*agentv1.AuthorizationPolicy{global, good}, other},            // the global policy is outside the platform namespace now
	} {
		want := fmt.Sprint(Check(tc.policies, tc.o))
		o := tc.o
		o.Memo = memo
		if got := fmt.Sprint(Check(tc.policies, o)); got != want {
			t.Errorf("check %d with the memo:\n%s\nwithout:\n%s", i+1, got, want)
		}
	}
	remembered := func(p *agentv1.AuthorizationPolicy) bool {
		k, _ := memo.key(p, &base)
		_, ok := memo.passed(k)
		return ok
	}
	for _, p := range []*agentv1.AuthorizationPolicy{broken, changed} {
		if remembered(p) {
			t.Errorf("%s/%s failed, and is remembered", p.Namespace, p.Name)
		}
	}
	if !remembered(good) {
		t.Error("planner passed, and is not remembered")
	}
}
