package views

import (
	"cmp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// SyncRow is one Sync in the overview.
type SyncRow struct {
	Namespace, Name string
	State           State
	// Message is the Ready condition's.
	Message  string
	Revision Revision
	// CommitURL links the applied revision on the Git host; "" when unknown.
	CommitURL string
	// Source is the GitSource, namespace/name.
	Source string
	// LastResult and LastDuration are those of the newest history entry.
	LastResult   string
	LastDuration time.Duration
	LastAt       time.Time
	AgentsReady  int
	AgentsTotal  int
	Created      time.Time
}

// Overview is the overview page: counts of every state over all Syncs, and the page of
// rows the query selects.
type Overview struct {
	Query  Query
	Counts []StateCount
	// Total is the number of Syncs before filtering.
	Total      int
	Rows       []SyncRow
	Paging     Paging
	Namespaces []string
}

// StateCount is how many Syncs are in a state.
type StateCount struct {
	State State
	N     int
}

// Sources finds a Sync's GitSource among the cached ones.
type Sources func(namespace, name string) *gitopsv1.GitSource

// NewOverview builds the overview of syncs (in any order) for q.
func NewOverview(syncs []*gitopsv1.Sync, sources Sources, q Query) Overview {
	o := Overview{Query: q, Total: len(syncs)}
	counts := map[State]int{}
	namespaces := map[string]bool{}
	var rows []SyncRow
	for _, s := range syncs {
		row := NewSyncRow(s, sources)
		counts[row.State]++
		namespaces[s.Namespace] = true
		if q.Namespace != "" && s.Namespace != q.Namespace || q.State != "" && row.State != q.State ||
			!q.matches(s.Name, s.Namespace, row.Source, s.Status.LastAppliedRevision, row.Message) {
			continue
		}
		rows = append(rows, row)
	}
	for _, st := range States {
		o.Counts = append(o.Counts, StateCount{State: st, N: counts[st]})
	}
	o.Namespaces = sortedKeys(namespaces)
	slices.SortFunc(rows, func(a, b SyncRow) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	lo, hi, p := q.page(len(rows))
	o.Rows, o.Paging = rows[lo:hi], p
	return o
}

// NewSyncRow summarises one Sync.
func NewSyncRow(s *gitopsv1.Sync, sources Sources) SyncRow {
	srcNS := cmp.Or(s.Spec.SourceRef.Namespace, s.Namespace)
	row := SyncRow{Namespace: s.Namespace, Name: s.Name, State: StateOf(s), Revision: ParseRevision(s.Status.LastAppliedRevision),
		Source: srcNS + "/" + s.Spec.SourceRef.Name, Created: s.CreationTimestamp.Time, AgentsTotal: len(s.Status.Agents)}
	if c := meta.FindStatusCondition(s.Status.Conditions, gitopsv1.ReadyCondition); c != nil {
		row.Message = c.Message
	}
	if sources != nil {
		row.CommitURL = RepoOf(sources(srcNS, s.Spec.SourceRef.Name)).Commit(row.Revision.SHA)
	}
	if len(s.Status.History) > 0 {
		h := s.Status.History[0]
		row.LastResult, row.LastDuration, row.LastAt = h.Result, h.Duration.Duration, h.StartedAt.Time
	}
	for _, a := range s.Status.Agents {
		if a.Ready == "True" {
			row.AgentsReady++
		}
	}
	return row
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
