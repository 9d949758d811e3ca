package views

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func runtime(ns, name string, conds ...metav1.Condition) *agentv1.AgentRuntime {
	rt := &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent,
		TargetRef:      agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name + "-deploy"},
		AuthBridgeMode: agentv1.AuthBridgeProxySidecar, MTLSMode: agentv1.MTLSStrict}}
	rt.Namespace, rt.Name = ns, name
	rt.Status.Conditions = conds
	return rt
}

func TestNewAgentRow(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name             string
		card             *agentv1.AgentRuntimeCard
		conds            []metav1.Condition
		wantCard         string
		ready, mtls, reg Condition // Type, Status, Reason, Tone compared
	}{
		{
			name:     "no card, no conditions",
			wantCard: "",
			ready:    Condition{Type: agentv1.ConditionReady, Status: "Unknown", Tone: "idle"},
			mtls:     Condition{Type: agentv1.ConditionMTLSReady, Status: "Unknown", Tone: "idle"},
			reg:      Condition{Type: agentv1.ConditionClientRegistered, Status: "Unknown", Tone: "idle"},
		},
		{
			name:     "unsigned card, all true",
			card:     &agentv1.AgentRuntimeCard{},
			conds:    []metav1.Condition{cond(agentv1.ConditionReady, "True"), cond(agentv1.ConditionMTLSReady, "True"), cond(agentv1.ConditionClientRegistered, "True")},
			wantCard: "unsigned",
			ready:    Condition{Type: agentv1.ConditionReady, Status: "True", Reason: "ReadyTrue", Tone: "good"},
			mtls:     Condition{Type: agentv1.ConditionMTLSReady, Status: "True", Reason: "MTLSReadyTrue", Tone: "good"},
			reg:      Condition{Type: agentv1.ConditionClientRegistered, Status: "True", Reason: "ClientRegisteredTrue", Tone: "good"},
		},
		{
			name:     "verified card, not registered",
			card:     &agentv1.AgentRuntimeCard{ValidSignature: &yes},
			conds:    []metav1.Condition{cond(agentv1.ConditionClientRegistered, "False"), cond(agentv1.ConditionReady, "False")},
			wantCard: "verified",
			ready:    Condition{Type: agentv1.ConditionReady, Status: "False", Reason: "ReadyFalse", Tone: "bad"},
			mtls:     Condition{Type: agentv1.ConditionMTLSReady, Status: "Unknown", Tone: "idle"},
			reg:      Condition{Type: agentv1.ConditionClientRegistered, Status: "False", Reason: "ClientRegisteredFalse", Tone: "bad"},
		},
		{
			name:     "invalid card, registration in progress",
			card:     &agentv1.AgentRuntimeCard{ValidSignature: &no},
			conds:    []metav1.Condition{cond(agentv1.ConditionClientRegistered, "Unknown")},
			wantCard: "invalid",
			ready:    Condition{Type: agentv1.ConditionReady, Status: "Unknown", Tone: "idle"},
			mtls:     Condition{Type: agentv1.ConditionMTLSReady, Status: "Unknown", Tone: "idle"},
			reg:      Condition{Type: agentv1.ConditionClientRegistered, Status: "Unknown", Reason: "ClientRegisteredUnknown", Tone: "progress"},
		},
	}
	strip := func(c Condition) Condition {
		return Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Tone: c.Tone}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := runtime("team-a", "research-agent", tt.conds...)
			rt.Status.Card = tt.card
			row := NewAgentRow(rt)
			if row.Card != tt.wantCard {
				t.Errorf("card %q, want %q", row.Card, tt.wantCard)
			}
			if got := strip(row.Ready); got != tt.ready {
				t.Errorf("ready %+v, want %+v", got, tt.ready)
			}
			if got := strip(row.MTLSReady); got != tt.mtls {
				t.Errorf("mtls ready %+v, want %+v", got, tt.mtls)
			}
			if got := strip(row.Registered); got != tt.reg {
				t.Errorf("registered %+v, want %+v", got, tt.reg)
			}
			if len(row.Conditions) != len(tt.conds) {
				t.Errorf("conditions %+v", row.Conditions)
			}
			if row.Namespace != "team-a" || row.Name != "research-agent" || row.Type != "agent" || row.Workload != "Deployment/research-agent-deploy" ||
				row.Mode != "proxy-sidecar" || row.MTLS != "strict" {
				t.Errorf("row %+v", row)
			}
			if row.SPIFFEID != "" || row.Sync != "" {
				t.Errorf("a row alone knows no Sync: %+v", row)
			}
		})
	}

	// A registered condition's message is carried.
	c := cond(agentv1.ConditionClientRegistered, "False")
	c.Message = "keycloak unreachable"
	if row := NewAgentRow(runtime("ns", "a", c)); row.Registered.Message != "keycloak unreachable" {
		t.Errorf("registered message %q", row.Registered.Message)
	}
}

func agentsFixture() ([]*agentv1.AgentRuntime, []*gitopsv1.Sync) {
	readyC := cond(agentv1.ConditionReady, "True")
	rts := []*agentv1.AgentRuntime{
		runtime("team-b", "planner-agent", readyC),
		runtime("team-a", "research-agent", readyC),
		runtime("team-a", "orphan-tool", cond(agentv1.ConditionReady, "False")),
		runtime("team-c", "weather-tool"),
	}
	rts[2].Spec.Type = agentv1.AgentTypeTool
	s1 := newSync("team-a", "agents")
	s1.Status.Agents = []gitopsv1.AgentSummary{
		{Namespace: "team-a", Name: "research-agent", SPIFFEID: "spiffe://example.org/ns/team-a/sa/research-agent"},
		{Namespace: "team-z", Name: "not-running"}, // applied, no AgentRuntime yet
	}
	s2 := newSync("platform", "shared")
	s2.Status.Agents = []gitopsv1.AgentSummary{
		{Namespace: "team-b", Name: "planner-agent", SPIFFEID: "spiffe://example.org/ns/team-b/sa/planner"},
		{Namespace: "team-c", Name: "weather-tool"}, // SPIRE off: no ID
	}
	return rts, []*gitopsv1.Sync{s1, s2}
}

func TestNewAgentsPage(t *testing.T) {
	rts, syncs := agentsFixture()
	p := NewAgentsPage(rts, syncs, Query{Page: 1, Size: DefaultPageSize})
	if p.Total != 4 || p.NotReady != 2 {
		t.Errorf("total %d not ready %d, want 4 and 2", p.Total, p.NotReady)
	}
	type got struct{ key, sync, id string }
	var rows []got
	for _, r := range p.Rows {
		rows = append(rows, got{r.Namespace + "/" + r.Name, r.Sync, r.SPIFFEID})
	}
	want := []got{
		{"team-a/orphan-tool", "", ""},
		{"team-a/research-agent", "team-a/agents", "spiffe://example.org/ns/team-a/sa/research-agent"},
		{"team-b/planner-agent", "platform/shared", "spiffe://example.org/ns/team-b/sa/planner"},
		{"team-c/weather-tool", "platform/shared", ""},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows\n%v\nwant\n%v", rows, want)
	}
	if !slices.Equal(p.Namespaces, []string{"team-a", "team-b", "team-c"}) {
		t.Errorf("namespaces %v", p.Namespaces)
	}
	if p.Paging.Total != 4 || p.Paging.Pages != 1 {
		t.Errorf("paging %+v", p.Paging)
	}

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"namespace", Query{Namespace: "team-a"}, []string{"team-a/orphan-tool", "team-a/research-agent"}},
		{"state ignored", Query{State: Failed}, []string{"team-a/orphan-tool", "team-a/research-agent", "team-b/planner-agent", "team-c/weather-tool"}},
		{"text on SPIFFE ID", Query{Text: "sa/planner"}, []string{"team-b/planner-agent"}},
		{"text on workload", Query{Text: "orphan-tool-DEPLOY"}, []string{"team-a/orphan-tool"}},
		{"text on sync", Query{Text: "platform/shared"}, []string{"team-b/planner-agent", "team-c/weather-tool"}},
		{"text on name", Query{Text: "Research"}, []string{"team-a/research-agent"}},
		{"text and namespace", Query{Namespace: "team-c", Text: "tool"}, []string{"team-c/weather-tool"}},
		{"nothing", Query{Text: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Page, tt.q.Size = 1, DefaultPageSize
			p := NewAgentsPage(rts, syncs, tt.q)
			var keys []string
			for _, r := range p.Rows {
				keys = append(keys, r.Namespace+"/"+r.Name)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("rows %v, want %v", keys, tt.want)
			}
			// NotReady and Total are over all agents, not the filtered ones.
			if p.NotReady != 2 || p.Total != 4 || len(p.Namespaces) != 3 {
				t.Errorf("not ready %d total %d namespaces %v", p.NotReady, p.Total, p.Namespaces)
			}
		})
	}

	// Paged.
	p = NewAgentsPage(rts, syncs, Query{Page: 2, Size: 3})
	if len(p.Rows) != 1 || p.Rows[0].Name != "weather-tool" || p.Paging.Prev != "?size=3" || p.Paging.Next != "" {
		t.Errorf("page 2: rows %+v paging %+v", p.Rows, p.Paging)
	}

	// No Syncs: no SPIFFE IDs, no Syncs.
	p = NewAgentsPage(rts, nil, Query{Page: 1, Size: 10})
	for _, r := range p.Rows {
		if r.Sync != "" || r.SPIFFEID != "" {
			t.Errorf("row %+v without syncs", r)
		}
	}
}

// TestDefaultsOnly: an agent its pods' label enrolled is marked, a declared one is not.
func TestDefaultsOnly(t *testing.T) {
	for _, c := range []struct {
		annotations map[string]string
		want        bool
	}{
		{annotations: map[string]string{gitopsv1.AnnotationEnrolment: gitopsv1.EnrolmentLabel}, want: true},
		{annotations: map[string]string{gitopsv1.AnnotationEnrolment: "other"}},
		{},
	} {
		rt := &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "chat", Annotations: c.annotations}}
		if got := NewAgentRow(rt).DefaultsOnly; got != c.want {
			t.Errorf("annotations %v: DefaultsOnly %v, want %v", c.annotations, got, c.want)
		}
	}
}
