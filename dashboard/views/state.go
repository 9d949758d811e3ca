package views

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// State is a Sync's state at a glance, as the overview counts it.
type State string

const (
	Ready       State = "Ready"
	Reconciling State = "Reconciling"
	Stalled     State = "Stalled"
	Drifted     State = "Drifted"
	Suspended   State = "Suspended"
	Failed      State = "Failed"
	Unknown     State = "Unknown"
)

// States in the order the overview shows their counts.
var States = []State{Ready, Reconciling, Drifted, Stalled, Failed, Suspended, Unknown}

// ParseState reads a state of States; ok is false for anything else.
func ParseState(s string) (State, bool) {
	for _, st := range States {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// StateOf is the one state that says most about a Sync: suspended first (nothing moves),
// then stalled (nothing will until someone acts), reconciling, drifted, ready, failed.
func StateOf(s *gitopsv1.Sync) State {
	conds := s.Status.Conditions
	switch {
	case s.Spec.Suspend:
		return Suspended
	case meta.IsStatusConditionTrue(conds, gitopsv1.StalledCondition):
		return Stalled
	case meta.IsStatusConditionTrue(conds, gitopsv1.ReconcilingCondition):
		return Reconciling
	case meta.IsStatusConditionTrue(conds, gitopsv1.DriftedCondition):
		return Drifted
	case meta.IsStatusConditionTrue(conds, gitopsv1.ReadyCondition):
		return Ready
	case meta.IsStatusConditionFalse(conds, gitopsv1.ReadyCondition):
		return Failed
	}
	return Unknown
}

// Tone is the colour family a state or condition is drawn in, as Argo CD's health
// colours: good (green), progress (blue), warn (amber), bad (red), idle (grey).
func (s State) Tone() string {
	switch s {
	case Ready:
		return "good"
	case Reconciling:
		return "progress"
	case Drifted:
		return "warn"
	case Stalled, Failed:
		return "bad"
	}
	return "idle"
}

// Icon is the glyph beside a state, so it reads without colour too.
func (s State) Icon() string {
	switch s {
	case Ready:
		return "✓"
	case Reconciling:
		return "↻"
	case Drifted:
		return "≠"
	case Stalled:
		return "■"
	case Failed:
		return "✕"
	case Suspended:
		return "⏸"
	}
	return "?"
}

// Condition is one condition as a page shows it.
type Condition struct {
	Type, Status, Reason, Message string
	Since                         metav1.Time
	// Tone follows what the condition's value means: Ready=True is good, Drifted=True
	// and Stalled=True are bad news.
	Tone string
}

// Conditions lists conditions for a page, Ready first.
func Conditions(conds []metav1.Condition) []Condition {
	out := make([]Condition, 0, len(conds))
	for _, c := range conds {
		vc := Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime, Tone: conditionTone(c)}
		if c.Type == gitopsv1.ReadyCondition {
			out = append([]Condition{vc}, out...)
			continue
		}
		out = append(out, vc)
	}
	return out
}

// negative conditions are bad news when True.
var negative = map[string]bool{gitopsv1.StalledCondition: true, gitopsv1.DriftedCondition: true}

func conditionTone(c metav1.Condition) string {
	switch {
	case c.Status == metav1.ConditionUnknown:
		return "progress"
	case c.Type == gitopsv1.ReconcilingCondition:
		return "progress"
	case negative[c.Type] == (c.Status == metav1.ConditionTrue):
		if c.Type == gitopsv1.DriftedCondition {
			return "warn"
		}
		return "bad"
	}
	return "good"
}
