package kinds

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Object is what a controller-runtime client reads and writes.
type Object interface {
	metav1.Object
	runtime.Object
}

// NewAgentRuntime is an empty AgentRuntime of the family's group.
func NewAgentRuntime(f agentv1.Family) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return &rossoctlv1.AgentRuntime{}
	}
	return &agentv1.AgentRuntime{}
}

// NewAgentRuntimeList is an empty AgentRuntime list of the family's group.
func NewAgentRuntimeList(f agentv1.Family) runtime.Object {
	if f.Group == agentv1.Rossoctl.Group {
		return &rossoctlv1.AgentRuntimeList{}
	}
	return &agentv1.AgentRuntimeList{}
}

// NewAuthorizationPolicy is an empty AuthorizationPolicy of the family's group.
func NewAuthorizationPolicy(f agentv1.Family) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return &rossoctlv1.AuthorizationPolicy{}
	}
	return &agentv1.AuthorizationPolicy{}
}

// NewAuthorizationPolicyList is an empty AuthorizationPolicy list of the family's group.
func NewAuthorizationPolicyList(f agentv1.Family) runtime.Object {
	if f.Group == agentv1.Rossoctl.Group {
		return &rossoctlv1.AuthorizationPolicyList{}
	}
	return &agentv1.AuthorizationPolicyList{}
}

// NewAgentCard is an empty AgentCard of the family's group.
func NewAgentCard(f agentv1.Family) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return &rossoctlv1.AgentCard{}
	}
	return &agentv1.AgentCard{}
}

// AgentRuntime is o as the Kagenti Go type, sharing its memory. It panics on an object of
// another kind: a programming error.
func AgentRuntime(o runtime.Object) *agentv1.AgentRuntime {
	switch t := o.(type) {
	case *agentv1.AgentRuntime:
		return t
	case *rossoctlv1.AgentRuntime:
		return (*agentv1.AgentRuntime)(t)
	}
	panic(fmt.Sprintf("kinds: %T is no AgentRuntime", o))
}

// AgentRuntimes are the items of an AgentRuntime list of either family.
func AgentRuntimes(l runtime.Object) []agentv1.AgentRuntime {
	switch t := l.(type) {
	case *agentv1.AgentRuntimeList:
		return t.Items
	case *rossoctlv1.AgentRuntimeList:
		return t.Items
	}
	panic(fmt.Sprintf("kinds: %T is no AgentRuntime list", l))
}

// AgentRuntimesOf lists the AgentRuntimes of each family with list (a client's List,
// which this package cannot link) and gives every item as the Kagenti Go type, sharing
// the lists' memory.
func AgentRuntimesOf(fams []agentv1.Family, list func(runtime.Object) error) ([]*agentv1.AgentRuntime, error) {
	return ofFamilies(fams, NewAgentRuntimeList, AgentRuntimes, list)
}

// AuthorizationPoliciesOf is AgentRuntimesOf for AuthorizationPolicies.
func AuthorizationPoliciesOf(fams []agentv1.Family, list func(runtime.Object) error) ([]*agentv1.AuthorizationPolicy, error) {
	return ofFamilies(fams, NewAuthorizationPolicyList, AuthorizationPolicies, list)
}

func ofFamilies[T any](fams []agentv1.Family, newList func(agentv1.Family) runtime.Object, items func(runtime.Object) []T, list func(runtime.Object) error) ([]*T, error) {
	var out []*T
	for _, f := range fams {
		l := newList(f)
		if err := list(l); err != nil {
			return nil, err
		}
		all := items(l)
		for i := range all {
			out = append(out, &all[i])
		}
	}
	return out, nil
}

// AuthorizationPolicy is o as the Kagenti Go type, sharing its memory.
func AuthorizationPolicy(o runtime.Object) *agentv1.AuthorizationPolicy {
	switch t := o.(type) {
	case *agentv1.AuthorizationPolicy:
		return t
	case *rossoctlv1.AuthorizationPolicy:
		return (*agentv1.AuthorizationPolicy)(t)
	}
	panic(fmt.Sprintf("kinds: %T is no AuthorizationPolicy", o))
}

// AuthorizationPolicies are the items of an AuthorizationPolicy list of either family.
func AuthorizationPolicies(l runtime.Object) []agentv1.AuthorizationPolicy {
	switch t := l.(type) {
	case *agentv1.AuthorizationPolicyList:
		return t.Items
	case *rossoctlv1.AuthorizationPolicyList:
		return t.Items
	}
	panic(fmt.Sprintf("kinds: %T is no AuthorizationPolicy list", l))
}

// AgentCard is o as the Kagenti Go type, sharing its memory.
func AgentCard(o runtime.Object) *agentv1.AgentCard {
	switch t := o.(type) {
	case *agentv1.AgentCard:
		return t
	case *rossoctlv1.AgentCard:
		return (*agentv1.AgentCard)(t)
	}
	panic(fmt.Sprintf("kinds: %T is no AgentCard", o))
}

// FamilyOfObject is the family of a typed object of either group.
func FamilyOfObject(o runtime.Object) agentv1.Family {
	switch o.(type) {
	case *rossoctlv1.AgentRuntime, *rossoctlv1.AgentRuntimeList, *rossoctlv1.AuthorizationPolicy,
		*rossoctlv1.AuthorizationPolicyList, *rossoctlv1.AgentCard, *rossoctlv1.AgentCardList:
		return agentv1.Rossoctl
	}
	return agentv1.Kagenti
}

// AgentRuntimeOf is rt as the family's Go type, sharing its memory: what a client, an
// event recorder or an owner reference needs to name the family's group.
func AgentRuntimeOf(f agentv1.Family, rt *agentv1.AgentRuntime) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return (*rossoctlv1.AgentRuntime)(rt)
	}
	return rt
}

// AgentCardOf is card as the family's Go type, sharing its memory.
func AgentCardOf(f agentv1.Family, card *agentv1.AgentCard) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return (*rossoctlv1.AgentCard)(card)
	}
	return card
}

// AuthorizationPolicyOf is p as the family's Go type, sharing its memory.
func AuthorizationPolicyOf(f agentv1.Family, p *agentv1.AuthorizationPolicy) Object {
	if f.Group == agentv1.Rossoctl.Group {
		return (*rossoctlv1.AuthorizationPolicy)(p)
	}
	return p
}
