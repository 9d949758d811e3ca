package views

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// overviewSyncs are five Syncs in three namespaces, in no order.
func overviewSyncs() []*gitopsv1.Sync {
	ready := func(ns, name, msg string) *gitopsv1.Sync {
		c := cond(gitopsv1.ReadyCondition, "True")
		c.Message = msg
		return newSync(ns, name, c)
	}
	a := ready("team-b", "agents", "Applied revision main@sha1:"+sha1Hex)
	a.Status.LastAppliedRevision = "main@sha1:" + sha1Hex
	a.Spec.SourceRef = gitopsv1.SourceReference{Name: "agents-repo"}
	a.Status.Agents = []gitopsv1.AgentSummary{
		{Namespace: "team-b", Name: "planner-agent", Ready: "True"},
		{Namespace: "team-b", Name: "calendar-tool", Ready: "False"},
		{Namespace: "team-b", Name: "weather-tool", Ready: "Unknown"},
		{Namespace: "team-b", Name: "mail-tool", Ready: "True"},
	}
	a.Status.History = []gitopsv1.HistoryEntry{
		{Revision: "main@sha1:" + sha1Hex, Result: "Succeeded", StartedAt: metav1.Unix(1700000100, 0), Duration: metav1.Duration{Duration: 3 * time.Second}},
		{Revision: "main@sha1:abcdef0", Result: "Failed", StartedAt: metav1.Unix(1700000000, 0), Duration: metav1.Duration{Duration: time.Second}},
	}
	a.CreationTimestamp = metav1.Unix(1600000000, 0)

	b := newSync("team-a", "tools", cond(gitopsv1.ReadyCondition, "False"))
	b.Status.Conditions[0].Message = "kustomize build failed"
	b.Status.LastAppliedRevision = "release-1@sha1:abcdef0123"
	b.Spec.SourceRef = gitopsv1.SourceReference{Name: "shared", Namespace: "platform"}

	c := newSync("team-a", "agents", cond(gitopsv1.ReadyCondition, "True"), cond(gitopsv1.DriftedCondition, "True"))
	c.Status.LastAppliedRevision = "main@sha1:" + sha1Hex

	d := newSync("platform", "base")
	d.Spec.Suspend = true

	e := newSync("team-b", "Monitoring", cond(gitopsv1.ReadyCondition, "True"))
	return []*gitopsv1.Sync{a, b, c, d, e}
}

func TestNewOverviewCountsAndOrder(t *testing.T) {
	syncs := overviewSyncs()
	q := Query{Page: 1, Size: DefaultPageSize}
	o := NewOverview(syncs, nil, q)
	if o.Total != 5 || len(o.Rows) != 5 || o.Paging.Total != 5 {
		t.Fatalf("total %d, rows %d, paging %+v", o.Total, len(o.Rows), o.Paging)
	}
	wantCounts := map[State]int{Ready: 2, Drifted: 1, Failed: 1, Suspended: 1}
	if len(o.Counts) != len(States) {
		t.Fatalf("counts %+v", o.Counts)
	}
	for i, c := range o.Counts {
		if c.State != States[i] || c.N != wantCounts[c.State] {
			t.Errorf("counts[%d] = %+v, want %s %d", i, c, States[i], wantCounts[States[i]])
		}
	}
	var keys []string
	for _, r := range o.Rows {
		keys = append(keys, r.Namespace+"/"+r.Name)
	}
	// By namespace, then name (byte order: upper case first).
	want := []string{"platform/base", "team-a/agents", "team-a/tools", "team-b/Monitoring", "team-b/agents"}
	if !slices.Equal(keys, want) {
		t.Errorf("rows %v, want %v", keys, want)
	}
	if !slices.Equal(o.Namespaces, []string{"platform", "team-a", "team-b"}) {
		t.Errorf("namespaces %v", o.Namespaces)
	}
}

func TestNewOverviewFilters(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"namespace", Query{Namespace: "team-a"}, []string{"team-a/agents", "team-a/tools"}},
		{"namespace unknown", Query{Namespace: "team-z"}, nil},
		{"state", Query{State: Ready}, []string{"team-b/Monitoring", "team-b/agents"}},
		{"state and namespace", Query{Namespace: "team-b", State: Ready}, []string{"team-b/Monitoring", "team-b/agents"}},
		{"state with none", Query{State: Stalled}, nil},
		{"text on name, any case", Query{Text: "monitor"}, []string{"team-b/Monitoring"}},
		{"text on namespace", Query{Text: "PLATFORM"}, []string{"platform/base", "team-a/tools"}}, // tools' source is platform/shared
		{"text on revision", Query{Text: "release-1"}, []string{"team-a/tools"}},
		{"text on revision sha", Query{Text: "ABCDEF0123"}, []string{"team-a/agents", "team-a/tools", "team-b/agents"}}, // all three SHAs hold it
		{"text on message", Query{Text: "Kustomize"}, []string{"team-a/tools"}},
		{"text and namespace", Query{Namespace: "team-b", Text: "agents"}, []string{"team-b/agents"}},
		{"text matches nothing", Query{Text: "nothing-like-this"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Page, tt.q.Size = 1, DefaultPageSize
			o := NewOverview(overviewSyncs(), nil, tt.q)
			var keys []string
			for _, r := range o.Rows {
				keys = append(keys, r.Namespace+"/"+r.Name)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("rows %v, want %v", keys, tt.want)
			}
			// Counts and Total are over all Syncs, whatever the filter.
			if o.Total != 5 {
				t.Errorf("total %d", o.Total)
			}
			n := 0
			for _, c := range o.Counts {
				n += c.N
			}
			if n != 5 || o.Counts[0] != (StateCount{Ready, 2}) {
				t.Errorf("counts %+v over %d syncs, want 5", o.Counts, n)
			}
			if o.Paging.Total != len(tt.want) {
				t.Errorf("paging total %d, want %d", o.Paging.Total, len(tt.want))
			}
			if len(o.Namespaces) != 3 {
				t.Errorf("namespaces %v: want all three", o.Namespaces)
			}
		})
	}
}

func TestNewOverviewPaging(t *testing.T) {
	o := NewOverview(overviewSyncs(), nil, Query{Page: 2, Size: 2})
	if len(o.Rows) != 2 || o.Rows[0].Name != "tools" || o.Rows[1].Name != "Monitoring" {
		t.Errorf("page 2: %+v", o.Rows)
	}
	if o.Paging.Page != 2 || o.Paging.Pages != 3 || o.Paging.First != 3 || o.Paging.Last != 4 {
		t.Errorf("paging %+v", o.Paging)
	}
	o = NewOverview(overviewSyncs(), nil, Query{Page: 10, Size: 2})
	if len(o.Rows) != 1 || o.Rows[0].Name != "agents" || o.Rows[0].Namespace != "team-b" || o.Paging.Page != 3 || o.Paging.Next != "" {
		t.Errorf("past the end: rows %+v paging %+v", o.Rows, o.Paging)
	}
	o = NewOverview(nil, nil, Query{Page: 1, Size: 10})
	if len(o.Rows) != 0 || o.Total != 0 || o.Paging.Pages != 1 || o.Paging.First != 0 {
		t.Errorf("no syncs: %+v", o)
	}
}

func TestNewSyncRow(t *testing.T) {
	syncs := overviewSyncs()
	srcs := map[string]*gitopsv1.GitSource{
		"team-b/agents-repo": gitSource("https://github.com/org/agents.git", ""),
		"platform/shared":    gitSource("git@gitlab.com:platform/shared.git", ""),
	}
	var asked []string
	sources := func(ns, name string) *gitopsv1.GitSource {
		asked = append(asked, ns+"/"+name)
		return srcs[ns+"/"+name]
	}

	r := NewSyncRow(syncs[0], sources)
	if r.State != Ready || r.Message != "Applied revision main@sha1:"+sha1Hex {
		t.Errorf("state %q message %q", r.State, r.Message)
	}
	if r.Revision != (Revision{Ref: "main", SHA: sha1Hex, Short: sha1Hex[:12]}) {
		t.Errorf("revision %+v", r.Revision)
	}
	if r.CommitURL != "https://github.com/org/agents/commit/"+sha1Hex {
		t.Errorf("commit URL %q", r.CommitURL)
	}
	if r.Source != "team-b/agents-repo" {
		t.Errorf("source %q", r.Source)
	}
	if r.AgentsReady != 2 || r.AgentsTotal != 4 {
		t.Errorf("agents %d/%d, want 2/4", r.AgentsReady, r.AgentsTotal)
	}
	if r.LastResult != "Succeeded" || r.LastDuration != 3*time.Second || !r.LastAt.Equal(time.Unix(1700000100, 0)) {
		t.Errorf("last %q %v %v, want the newest history entry", r.LastResult, r.LastDuration, r.LastAt)
	}
	if !r.Created.Equal(time.Unix(1600000000, 0)) {
		t.Errorf("created %v", r.Created)
	}

	// The source in another namespace, on GitLab.
	r = NewSyncRow(syncs[1], sources)
	if r.Source != "platform/shared" || r.CommitURL != "https://gitlab.com/platform/shared/-/commit/abcdef0123" || r.State != Failed {
		t.Errorf("row %+v", r)
	}
	if r.LastResult != "" || r.AgentsTotal != 0 || r.Message != "kustomize build failed" {
		t.Errorf("row without history or agents %+v", r)
	}
	if !slices.Equal(asked, []string{"team-b/agents-repo", "platform/shared"}) {
		t.Errorf("sources asked %v", asked)
	}

	// A source that is gone, or no sources at all: no link.
	r = NewSyncRow(syncs[2], sources)
	if r.CommitURL != "" || r.Source != "team-a/repo" {
		t.Errorf("missing source: %+v", r)
	}
	if r = NewSyncRow(syncs[0], nil); r.CommitURL != "" {
		t.Errorf("nil sources: commit URL %q", r.CommitURL)
	}

	// An overview fills CommitURL through the Sources func.
	o := NewOverview(syncs, sources, Query{Namespace: "team-b", Text: "agents", Page: 1, Size: 10})
	if len(o.Rows) != 1 || o.Rows[0].CommitURL != "https://github.com/org/agents/commit/"+sha1Hex {
		t.Errorf("overview rows %+v", o.Rows)
	}
}
