package scheme

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestKinds: both groups' kinds and lists, and the meta types a client needs for them
// (list and watch options), are in the scheme.
func TestKinds(t *testing.T) {
	s := New()
	for _, gvk := range []schema.GroupVersionKind{
		agentv1.GroupVersion.WithKind("AgentRuntime"), agentv1.GroupVersion.WithKind("AgentRuntimeList"),
		agentv1.GroupVersion.WithKind("AuthorizationPolicy"), agentv1.GroupVersion.WithKind("AgentCardList"),
		gitopsv1.GroupVersion.WithKind("GitSource"), gitopsv1.GroupVersion.WithKind("SyncList"),
		rossoctlv1.GroupVersion.WithKind("AgentRuntime"), rossoctlv1.GroupVersion.WithKind("AuthorizationPolicyList"),
		rossoctlv1.GroupVersion.WithKind("AgentCard"), rossoctlv1.GroupVersion.WithKind("ListOptions"),
		agentv1.GroupVersion.WithKind("ListOptions"), gitopsv1.GroupVersion.WithKind("WatchEvent"),
	} {
		if !s.Recognizes(gvk) {
			t.Errorf("%s is not in the scheme", gvk)
		}
	}
	gvks, _, err := s.ObjectKinds(&agentv1.AgentRuntime{})
	if err != nil || len(gvks) != 1 || gvks[0] != agentv1.GroupVersion.WithKind("AgentRuntime") {
		t.Errorf("AgentRuntime's kinds: %v %v", gvks, err)
	}
	// Rossoctl's Go type maps to Rossoctl's group only, so a client reading it asks
	// that group's API.
	gvks, _, err = s.ObjectKinds(&rossoctlv1.AgentRuntime{})
	if err != nil || len(gvks) != 1 || gvks[0] != agentv1.Rossoctl.GroupVersion().WithKind("AgentRuntime") {
		t.Errorf("Rossoctl AgentRuntime's kinds: %v %v", gvks, err)
	}
	if _, err := s.New(gitopsv1.GroupVersion.WithKind("Sync")); err != nil {
		t.Error(err)
	}
}
