package syncs

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/agentstatus"
)

// How many agents with a problem the one-line summary names.
const agentProblemsShown = 1

// agentReport summarises the run-time state of a Sync's agents, as their AgentRuntimes'
// conditions say (package agentstatus writes them).
type agentReport struct {
	total, reported, ready int
	// notReady counts reported agents whose Ready is False.
	notReady int
	// problems are "<namespace>/<name>: <Type>=<Status> <Reason>", one per agent.
	problems []string
}

// agentStatus fills the Ready and Message of each agent summary from its AgentRuntime,
// read from the object cache (never a request per agent), and summarises them.
func (r *Reconciler) agentStatus(ctx context.Context, agents []gitopsv1.AgentSummary) agentReport {
	return r.agentStatusOf(ctx, r.Objects, agents)
}

// agentStatusIn is agentStatus on a member cluster, from its object cache.
func (r *Reconciler) agentStatusIn(ctx context.Context, t *Target, agents []gitopsv1.AgentSummary) agentReport {
	return r.agentStatusOf(ctx, t.Objects, agents)
}

func (r *Reconciler) agentStatusOf(ctx context.Context, objects client.Reader, agents []gitopsv1.AgentSummary) agentReport {
	rep := agentReport{total: len(agents)}
	var informational []string
	for i := range agents {
		a := &agents[i]
		u, err := r.agentRuntime(ctx, objects, a.Namespace, a.Name)
		if err != nil {
			// Just applied and not in the cache yet, or gone: nothing is known of it.
			log.FromContext(ctx).V(1).Info("AgentRuntime not in the cache", "namespace", a.Namespace, "name", a.Name, "error", err.Error())
			continue
		}
		conds := conditionsOf(u)
		ready := findCondition(conds, agentv1.ConditionReady)
		if ready == nil || ready.ObservedGeneration != u.GetGeneration() {
			continue // not evaluated yet, or not since this revision changed it
		}
		// The revision rendered, so its AgentRuntimes' targets are in it and were applied
		// with it: a missing target can only be a look taken before the apply finished,
		// and posting it would flip the commit to failure and back.
		if ready.Status != metav1.ConditionTrue && ready.Reason == agentstatus.ReasonTargetNotFound {
			continue
		}
		rep.reported++
		a.Ready = string(ready.Status)
		if ready.Status == metav1.ConditionTrue {
			rep.ready++
		} else {
			rep.notReady++
		}
		if c := agentstatus.FirstProblem(conds); c != nil {
			a.Message = fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
			problem := fmt.Sprintf("%s/%s: %s=%s %s", a.Namespace, a.Name, c.Type, c.Status, c.Reason)
			if ready.Status == metav1.ConditionTrue {
				informational = append(informational, problem)
			} else {
				rep.problems = append(rep.problems, problem)
			}
		}
	}
	// Agents that are not Ready first: they are why a commit fails.
	rep.problems = append(rep.problems, informational...)
	return rep
}

// suffix is what the Sync's Ready message and commit status add about the agents, e.g.
// "; 3/4 agents ready; team-b/planner-agent: MTLSReady=False SPIREUnavailable". It is
// empty while no agent has been evaluated, so a Sync reads as before where nothing
// reports agent status.
func (a agentReport) suffix() string {
	if a.reported == 0 {
		return ""
	}
	s := fmt.Sprintf("; %d/%d agents ready", a.ready, a.total)
	if len(a.problems) > 0 {
		shown := a.problems
		if len(shown) > agentProblemsShown {
			shown = shown[:agentProblemsShown]
		}
		s += "; " + strings.Join(shown, "; ")
		if n := len(a.problems) - len(shown); n > 0 {
			s += fmt.Sprintf(" (+%d more)", n)
		}
	}
	return s
}

// state of the commit: a revision whose agents are not Ready did not take effect.
func (a agentReport) state() State {
	if a.notReady > 0 {
		return Failure
	}
	return Success
}

// agentsOfDescription is the agent part of a report fingerprint (see suffix): a success
// after a success on the same commit is posted only when it changed.
func agentsOfDescription(fingerprint string) string {
	if i := strings.Index(fingerprint, "; "); i >= 0 {
		return fingerprint[i:]
	}
	return ""
}

func conditionsOf(u *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make([]metav1.Condition, 0, len(raw))
	for _, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		var c metav1.Condition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// agentRuntime reads an agent's AgentRuntime from the cache, in the first of the
// platform's families that has it: the summary does not say its family, and render
// keeps one AgentRuntime per workload.
func (r *Reconciler) agentRuntime(ctx context.Context, objects client.Reader, namespace, name string) (*unstructured.Unstructured, error) {
	families := []agentv1.Family{agentv1.Kagenti}
	if r.Platform != nil {
		families = r.Platform.EnabledFamilies()
	}
	var err error
	for _, f := range families {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(f.GroupVersion().WithKind(agentv1.AgentRuntimeKind))
		if err = objects.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, u); err == nil {
			return u, nil
		}
	}
	return nil, err
}

// agentStatusChanged reports whether an AgentRuntime's conditions changed: they are
// written after the Sync applied it, so the Sync looks again to summarise them.
func agentStatusChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 || n.GetKind() != agentv1.AgentRuntimeKind {
		return false
	}
	if _, ok := agentv1.FamilyOf(n.GroupVersionKind().Group); !ok {
		return false
	}
	oc, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	nc, _, _ := unstructured.NestedSlice(n.Object, "status", "conditions")
	return !equality.Semantic.DeepEqual(oc, nc)
}
