package kinds

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// TestConversionShares: the Kagenti view of a Rossoctl object is the object itself, so
// what a controller writes into it is what the client sends.
func TestConversionShares(t *testing.T) {
	o := NewAgentRuntime(agentv1.Rossoctl)
	if _, ok := o.(*rossoctlv1.AgentRuntime); !ok {
		t.Fatalf("NewAgentRuntime(Rossoctl) is %T", o)
	}
	rt := AgentRuntime(o)
	rt.Spec.Type = agentv1.AgentTypeTool
	if o.(*rossoctlv1.AgentRuntime).Spec.Type != agentv1.AgentTypeTool {
		t.Fatal("the conversion copied the object")
	}
	if _, ok := NewAgentRuntime(agentv1.Kagenti).(*agentv1.AgentRuntime); !ok {
		t.Fatal("NewAgentRuntime(Kagenti) is not the Kagenti type")
	}
	if FamilyOfObject(o) != agentv1.Rossoctl || FamilyOfObject(NewAgentCard(agentv1.Kagenti)) != agentv1.Kagenti {
		t.Fatal("FamilyOfObject")
	}
	p := NewAuthorizationPolicy(agentv1.Rossoctl)
	AuthorizationPolicy(p).Spec.Scope = agentv1.ScopeGlobal
	cp := p.DeepCopyObject().(*rossoctlv1.AuthorizationPolicy)
	if cp.Spec.Scope != agentv1.ScopeGlobal || cp == p {
		t.Fatal("DeepCopyObject")
	}
	l := NewAuthorizationPolicyList(agentv1.Rossoctl)
	l.(*rossoctlv1.AuthorizationPolicyList).Items = append(l.(*rossoctlv1.AuthorizationPolicyList).Items, agentv1.AuthorizationPolicy{})
	if len(AuthorizationPolicies(l)) != 1 {
		t.Fatal("AuthorizationPolicies")
	}
}

func TestOfFamilies(t *testing.T) {
	listed := map[string]bool{}
	list := func(l runtime.Object) error {
		switch t := l.(type) {
		case *agentv1.AuthorizationPolicyList:
			listed["kagenti"] = true
			t.Items = []agentv1.AuthorizationPolicy{{}}
		case *rossoctlv1.AuthorizationPolicyList:
			listed["rossoctl"] = true
			t.Items = []agentv1.AuthorizationPolicy{{}, {}}
		}
		return nil
	}
	got, err := AuthorizationPoliciesOf([]agentv1.Family{agentv1.Kagenti, agentv1.Rossoctl}, list)
	if err != nil || len(got) != 3 || !listed["kagenti"] || !listed["rossoctl"] {
		t.Errorf("%d policies (%v), listed %v; want 3 from both", len(got), err, listed)
	}
	boom := errors.New("boom")
	if _, err := AgentRuntimesOf([]agentv1.Family{agentv1.Kagenti}, func(runtime.Object) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("a failed list: %v", err)
	}
}
