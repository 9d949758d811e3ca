package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	kagentiv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/api/internal/schemebuilder"
)

var (
	// GroupVersion is agent.rossoctl.dev/v1alpha1.
	GroupVersion = kagentiv1.Rossoctl.GroupVersion()

	// SchemeBuilder registers the kinds of this group with a runtime.Scheme.
	SchemeBuilder = &schemebuilder.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this group to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&AgentRuntime{}, &AgentRuntimeList{}, &AuthorizationPolicy{}, &AuthorizationPolicyList{}, &AgentCard{}, &AgentCardList{})
}

// The kinds of agent.rossoctl.dev, each the Kagenti kind of the same name.
type (
	AgentRuntime            kagentiv1.AgentRuntime
	AgentRuntimeList        kagentiv1.AgentRuntimeList
	AuthorizationPolicy     kagentiv1.AuthorizationPolicy
	AuthorizationPolicyList kagentiv1.AuthorizationPolicyList
	AgentCard               kagentiv1.AgentCard
	AgentCardList           kagentiv1.AgentCardList
)

// DeepCopy and DeepCopyObject of each kind are the Kagenti kind's, by conversion.

func (in *AgentRuntime) DeepCopy() *AgentRuntime {
	return (*AgentRuntime)((*kagentiv1.AgentRuntime)(in).DeepCopy())
}
func (in *AgentRuntime) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AgentRuntimeList) DeepCopy() *AgentRuntimeList {
	return (*AgentRuntimeList)((*kagentiv1.AgentRuntimeList)(in).DeepCopy())
}
func (in *AgentRuntimeList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AuthorizationPolicy) DeepCopy() *AuthorizationPolicy {
	return (*AuthorizationPolicy)((*kagentiv1.AuthorizationPolicy)(in).DeepCopy())
}
func (in *AuthorizationPolicy) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AuthorizationPolicyList) DeepCopy() *AuthorizationPolicyList {
	return (*AuthorizationPolicyList)((*kagentiv1.AuthorizationPolicyList)(in).DeepCopy())
}
func (in *AuthorizationPolicyList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AgentCard) DeepCopy() *AgentCard {
	return (*AgentCard)((*kagentiv1.AgentCard)(in).DeepCopy())
}
func (in *AgentCard) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *AgentCardList) DeepCopy() *AgentCardList {
	return (*AgentCardList)((*kagentiv1.AgentCardList)(in).DeepCopy())
}
func (in *AgentCardList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
