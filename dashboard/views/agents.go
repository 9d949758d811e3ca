package views

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// AgentRow is one AgentRuntime on the agents page.
type AgentRow struct {
	Namespace, Name, Type string
	// Workload is Kind/name of its target.
	Workload string
	// SPIFFEID as the Sync that applied it reports it; "" when none does or SPIRE is off.
	SPIFFEID string
	// Sync that applied it, namespace/name; "" when no Sync did.
	Sync string
	// Mode is the AuthBridge data plane mode, MTLS its mTLS mode.
	Mode, MTLS string
	// Ready, MTLSReady and Registered (its Keycloak client) are condition values, with
	// the reason where they are not True.
	Ready, MTLSReady, Registered Condition
	// DefaultsOnly says no AgentRuntime of the repository declares the agent: its pods'
	// kagenti.io/type label enrolled it with its namespace's defaults.
	DefaultsOnly bool
	// Card is the AgentCard signature's state: verified, invalid, unsigned or "" (no card).
	Card       string
	Conditions []Condition
	// Decisions are its pods' policy decisions by point, when the page has counters.
	Decisions []PointCount
}

// AgentsPage is a page of agents.
type AgentsPage struct {
	Query      Query
	Total      int
	Rows       []AgentRow
	Paging     Paging
	Namespaces []string
	// NotReady counts the agents (of all, not only the page) whose Ready is not True.
	NotReady int
	// Decisions are the data plane's counters, read from metrics (AddDecisions).
	Decisions Decisions
}

// NewAgentsPage lists the AgentRuntimes, with what the Syncs that applied them know.
// The query's State is ignored; its text matches name, namespace, SPIFFE ID and workload.
func NewAgentsPage(rts []*agentv1.AgentRuntime, syncs []*gitopsv1.Sync, q Query) AgentsPage {
	type applied struct {
		sync string
		a    gitopsv1.AgentSummary
	}
	bySync := map[string]applied{}
	for _, s := range syncs {
		for _, a := range s.Status.Agents {
			if _, ok := bySync[a.Namespace+"/"+a.Name]; !ok { // as AppliedRevision: the first one says
				bySync[a.Namespace+"/"+a.Name] = applied{s.Namespace + "/" + s.Name, a}
			}
		}
	}
	p := AgentsPage{Query: q, Total: len(rts)}
	namespaces := map[string]bool{}
	var rows []AgentRow
	for _, rt := range rts {
		namespaces[rt.Namespace] = true
		row := NewAgentRow(rt)
		if ap, ok := bySync[rt.Namespace+"/"+rt.Name]; ok {
			row.Sync, row.SPIFFEID = ap.sync, ap.a.SPIFFEID
		}
		if row.Ready.Status != "True" {
			p.NotReady++
		}
		if q.Namespace != "" && rt.Namespace != q.Namespace || !q.matches(rt.Name, rt.Namespace, row.SPIFFEID, row.Workload, row.Sync) {
			continue
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b AgentRow) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	lo, hi, pg := q.page(len(rows))
	p.Rows, p.Paging, p.Namespaces = rows[lo:hi], pg, sortedKeys(namespaces)
	return p
}

// NewAgentRow summarises one AgentRuntime.
func NewAgentRow(rt *agentv1.AgentRuntime) AgentRow {
	row := AgentRow{Namespace: rt.Namespace, Name: rt.Name, Type: string(rt.Spec.Type), Workload: rt.Spec.TargetRef.Kind + "/" + rt.Spec.TargetRef.Name,
		Mode: string(rt.Spec.AuthBridgeMode), MTLS: string(rt.Spec.MTLSMode), Conditions: Conditions(rt.Status.Conditions),
		DefaultsOnly: rt.Annotations[gitopsv1.AnnotationEnrolment] == gitopsv1.EnrolmentLabel}
	cond := func(t string) Condition {
		c := meta.FindStatusCondition(rt.Status.Conditions, t)
		if c == nil {
			return Condition{Type: t, Status: "Unknown", Tone: "idle"}
		}
		return Condition{Type: t, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime, Tone: conditionTone(*c)}
	}
	row.Ready, row.MTLSReady, row.Registered = cond(agentv1.ConditionReady), cond(agentv1.ConditionMTLSReady), cond(agentv1.ConditionClientRegistered)
	if c := rt.Status.Card; c != nil {
		switch {
		case c.ValidSignature == nil:
			row.Card = "unsigned"
		case *c.ValidSignature:
			row.Card = "verified"
		default:
			row.Card = "invalid"
		}
	}
	return row
}
