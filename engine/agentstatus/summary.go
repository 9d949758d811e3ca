package agentstatus

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// FirstProblem is the condition of an AgentRuntime that best explains what is wrong with
// it, nil when nothing is: the first that is not True, taking this package's conditions
// in their order, then other controllers' (sorted by type), then Ready, which only
// repeats a cause named before it. Opting out of the mesh is a choice, not a problem.
func FirstProblem(conds []metav1.Condition) *metav1.Condition {
	rank := func(t string) int {
		if t == agentv1.ConditionReady {
			return len(ConditionTypes) + 1
		}
		if i := slices.Index(ConditionTypes, t); i >= 0 {
			return i
		}
		return len(ConditionTypes)
	}
	var first *metav1.Condition
	for i := range conds {
		c := &conds[i]
		if !bad(*c) {
			continue
		}
		if first == nil || rank(c.Type) < rank(first.Type) || (rank(c.Type) == rank(first.Type) && strings.Compare(c.Type, first.Type) < 0) {
			first = c
		}
	}
	return first
}
