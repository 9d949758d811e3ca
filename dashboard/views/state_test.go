package views

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// cond is a condition of the given type and status (True, False, Unknown).
func cond(typ, status string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: typ + status, Message: typ + " is " + status}
}

// newSync is a Sync in ns/name with the given conditions.
func newSync(ns, name string, conds ...metav1.Condition) *gitopsv1.Sync {
	s := &gitopsv1.Sync{Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}}}
	s.Namespace, s.Name = ns, name
	s.Status.Conditions = conds
	return s
}

func TestParseState(t *testing.T) {
	for _, st := range States {
		got, ok := ParseState(string(st))
		if !ok || got != st {
			t.Errorf("ParseState(%q) = %q, %v", st, got, ok)
		}
	}
	for _, s := range []string{"", "ready", "READY", "Bogus", " Ready"} {
		if got, ok := ParseState(s); ok || got != "" {
			t.Errorf("ParseState(%q) = %q, %v; want rejected", s, got, ok)
		}
	}
}

func TestStateOf(t *testing.T) {
	const (
		ready, rec, stalled, drifted = gitopsv1.ReadyCondition, gitopsv1.ReconcilingCondition, gitopsv1.StalledCondition, gitopsv1.DriftedCondition
	)
	tests := []struct {
		name    string
		suspend bool
		conds   []metav1.Condition
		want    State
	}{
		{"no conditions", false, nil, Unknown},
		{"ready unknown", false, []metav1.Condition{cond(ready, "Unknown")}, Unknown},
		{"ready true", false, []metav1.Condition{cond(ready, "True")}, Ready},
		{"ready false", false, []metav1.Condition{cond(ready, "False")}, Failed},
		{"drifted beats ready", false, []metav1.Condition{cond(ready, "True"), cond(drifted, "True")}, Drifted},
		{"drifted beats failed", false, []metav1.Condition{cond(ready, "False"), cond(drifted, "True")}, Drifted},
		{"drifted false is ready", false, []metav1.Condition{cond(ready, "True"), cond(drifted, "False")}, Ready},
		{"reconciling beats drifted", false, []metav1.Condition{cond(ready, "True"), cond(drifted, "True"), cond(rec, "True")}, Reconciling},
		{"reconciling false ignored", false, []metav1.Condition{cond(ready, "False"), cond(rec, "False")}, Failed},
		{"reconciling alone", false, []metav1.Condition{cond(rec, "True")}, Reconciling},
		{"stalled beats reconciling", false, []metav1.Condition{cond(rec, "True"), cond(stalled, "True"), cond(drifted, "True"), cond(ready, "False")}, Stalled},
		{"stalled unknown ignored", false, []metav1.Condition{cond(stalled, "Unknown"), cond(ready, "True")}, Ready},
		{"suspended beats all", true, []metav1.Condition{cond(stalled, "True"), cond(rec, "True"), cond(drifted, "True"), cond(ready, "False")}, Suspended},
		{"suspended without conditions", true, nil, Suspended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSync("ns", "s", tt.conds...)
			s.Spec.Suspend = tt.suspend
			if got := StateOf(s); got != tt.want {
				t.Errorf("StateOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStateToneIcon(t *testing.T) {
	tests := []struct {
		state      State
		tone, icon string
	}{
		{Ready, "good", "✓"},
		{Reconciling, "progress", "↻"},
		{Drifted, "warn", "≠"},
		{Stalled, "bad", "■"},
		{Failed, "bad", "✕"},
		{Suspended, "idle", "⏸"},
		{Unknown, "idle", "?"},
		{State("Other"), "idle", "?"},
	}
	for _, tt := range tests {
		if got := tt.state.Tone(); got != tt.tone {
			t.Errorf("%s.Tone() = %q, want %q", tt.state, got, tt.tone)
		}
		if got := tt.state.Icon(); got != tt.icon {
			t.Errorf("%s.Icon() = %q, want %q", tt.state, got, tt.icon)
		}
	}
	if len(States) != 7 {
		t.Errorf("States has %d entries, want 7", len(States))
	}
}

func TestConditions(t *testing.T) {
	since := metav1.Unix(1700000000, 0)
	in := []metav1.Condition{
		cond(gitopsv1.DriftedCondition, "True"),
		cond(gitopsv1.StalledCondition, "True"),
		cond(gitopsv1.ReadyCondition, "False"),
		cond(gitopsv1.ReconcilingCondition, "True"),
		cond("Other", "Unknown"),
	}
	in[2].LastTransitionTime = since
	got := Conditions(in)
	want := []struct{ typ, status, tone string }{
		{gitopsv1.ReadyCondition, "False", "bad"},
		{gitopsv1.DriftedCondition, "True", "warn"},
		{gitopsv1.StalledCondition, "True", "bad"},
		{gitopsv1.ReconcilingCondition, "True", "progress"},
		{"Other", "Unknown", "progress"},
	}
	if len(got) != len(want) {
		t.Fatalf("Conditions gave %d, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.Status != w.status || g.Tone != w.tone {
			t.Errorf("[%d] = %s=%s tone %q, want %s=%s tone %q", i, g.Type, g.Status, g.Tone, w.typ, w.status, w.tone)
		}
		if g.Reason != w.typ+w.status || g.Message != w.typ+" is "+w.status {
			t.Errorf("[%d] reason %q message %q not copied", i, g.Reason, g.Message)
		}
	}
	if !got[0].Since.Equal(&since) {
		t.Errorf("Ready's Since = %v, want %v", got[0].Since, since)
	}

	if got := Conditions(nil); got == nil || len(got) != 0 {
		t.Errorf("Conditions(nil) = %#v, want empty non-nil", got)
	}
}

func TestConditionTone(t *testing.T) {
	tests := []struct {
		typ, status, tone string
	}{
		{gitopsv1.ReadyCondition, "True", "good"},
		{gitopsv1.ReadyCondition, "False", "bad"},
		{gitopsv1.ReadyCondition, "Unknown", "progress"},
		{gitopsv1.DriftedCondition, "True", "warn"},
		{gitopsv1.DriftedCondition, "False", "good"},
		{gitopsv1.DriftedCondition, "Unknown", "progress"},
		{gitopsv1.StalledCondition, "True", "bad"},
		{gitopsv1.StalledCondition, "False", "good"},
		{gitopsv1.ReconcilingCondition, "True", "progress"},
		{gitopsv1.ReconcilingCondition, "False", "progress"},
		{"MTLSReady", "True", "good"},
		{"MTLSReady", "False", "bad"},
	}
	for _, tt := range tests {
		got := Conditions([]metav1.Condition{cond(tt.typ, tt.status)})
		if len(got) != 1 || got[0].Tone != tt.tone {
			t.Errorf("%s=%s: tone %+v, want %q", tt.typ, tt.status, got, tt.tone)
		}
	}
}
