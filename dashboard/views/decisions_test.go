package views

import (
	"reflect"
	"testing"
)

func TestWorkloadOfPod(t *testing.T) {
	tests := []struct{ kind, pod, want string }{
		{"Deployment", "research-agent-7d9f8b6c5-x2kqz", "research-agent"},
		{"Deployment", "research-agent-x2kqz", ""},       // no template hash
		{"Deployment", "research-agent-agent-x2kqz", ""}, // "agent" is no hash: vowels
		{"Deployment", "research-7d9f8b6c5-x2kq", ""},    // a 4-character suffix
		{"StatefulSet", "calendar-tool-0", "calendar-tool"},
		{"StatefulSet", "calendar-tool-12", "calendar-tool"},
		{"StatefulSet", "calendar-tool-x2kqz", ""},
		{"DaemonSet", "node-agent-x2kqz", "node-agent"},
		{"Job", "batch-agent-x2kqz", "batch-agent"},
		{"Job", "batch-agent", ""},
		{"Deployment", "-", ""},
		{"StatefulSet", "tool-", ""},
		{"Deployment", "", ""},
	}
	for _, tc := range tests {
		if got := workloadOfPod(tc.kind, tc.pod); got != tc.want {
			t.Errorf("workloadOfPod(%s, %s) = %q, want %q", tc.kind, tc.pod, got, tc.want)
		}
	}
}

func TestAddDecisions(t *testing.T) {
	rows := func() []AgentRow {
		return []AgentRow{
			{Namespace: "team-a", Name: "research-agent", Workload: "Deployment/research-agent"},
			{Namespace: "team-b", Name: "calendar-tool", Workload: "StatefulSet/calendar-tool"},
			{Namespace: "team-b", Name: "research-agent", Workload: "Deployment/research-agent"},
		}
	}
	samples := []DecisionSample{
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "inbound/request", Result: "allow", Count: 10},
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-bbbbb", Point: "inbound/request", Result: "allow", Count: 2}, // a second pod adds up
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "inbound/request", Result: "deny", Count: 3},
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "outbound/request", Result: "not_ready", Count: 1},
		{Namespace: "team-b", Pod: "calendar-tool-0", Point: "inbound/request", Result: "deny", Count: 4},
		{Namespace: "team-c", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "inbound/request", Result: "allow", Count: 99}, // another namespace's
		{Namespace: "team-a", Pod: "unrelated-5c4b-x2kqz", Point: "inbound/request", Result: "allow", Count: 99},
	}
	p := AgentsPage{Rows: rows()}
	p.AddDecisions(Decisions{Enabled: true, Samples: samples})
	want := [][]PointCount{
		{{Point: "inbound/request", Allowed: 12, Denied: 3}, {Point: "outbound/request", NotReady: 1}},
		{{Point: "inbound/request", Denied: 4}},
		nil,
	}
	for i, r := range p.Rows {
		if !reflect.DeepEqual(r.Decisions, want[i]) {
			t.Errorf("%s/%s: %+v, want %+v", r.Namespace, r.Name, r.Decisions, want[i])
		}
	}

	for _, d := range []Decisions{{}, {Enabled: true, Problem: "unreachable", Samples: samples}} {
		p := AgentsPage{Rows: rows()}
		p.AddDecisions(d)
		for _, r := range p.Rows {
			if r.Decisions != nil {
				t.Errorf("%+v gave %s counts", d, r.Name)
			}
		}
		if !reflect.DeepEqual(p.Decisions, d) {
			t.Errorf("the page keeps %+v, want %+v", p.Decisions, d)
		}
	}
}
