package views

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

func TestHealthTone(t *testing.T) {
	tests := map[string]string{
		"Current": "good", "InProgress": "progress", "Terminating": "progress",
		"Failed": "bad", "NotFound": "bad", "Unknown": "idle", "": "idle", "current": "idle",
	}
	for status, tone := range tests {
		if got := (Health{Status: status}).Tone(); got != tone {
			t.Errorf("Health %q tone %q, want %q", status, got, tone)
		}
	}
}

// inventorySync is a Sync that applied objects in two namespaces and two cluster-scoped
// ones, with one of them drifted and one deleted.
func inventorySync() *gitopsv1.Sync {
	s := newSync("team-a", "agents", cond(gitopsv1.ReadyCondition, "True"), cond(gitopsv1.DriftedCondition, "True"))
	s.Status.LastAppliedRevision = "main@sha1:" + sha1Hex
	ids := []string{
		"team-b_planner_apps_Deployment",
		"team-a_research_apps_Deployment",
		"team-a_research__Service",
		"team-a_alpha_apps_Deployment",
		"_admin_rbac.authorization.k8s.io_ClusterRole_x", // malformed: five parts
		"_team-a__Namespace",
		"_agents.example.org_apiextensions.k8s.io_CustomResourceDefinition",
		"team-a_research_agent.trustsync.io_AgentRuntime",
		"not-an-id",
	}
	s.Status.Inventory = &gitopsv1.Inventory{}
	for _, id := range ids {
		s.Status.Inventory.Entries = append(s.Status.Inventory.Entries, gitopsv1.InventoryEntry{ID: id, V: "v1"})
	}
	detected := metav1.Unix(1700000500, 0)
	s.Status.Drift = &gitopsv1.DriftReport{DetectedAt: &detected, Objects: []gitopsv1.DriftedObject{
		{ID: "team-a_research_apps_Deployment", Manager: "kubectl-edit", Fields: []string{"/spec/replicas", "/spec/template/spec/containers/0/image", "/metadata/labels/x"},
			Diffs: []gitopsv1.FieldDiff{{Field: "/spec/replicas", Desired: "1", Live: "3"}}},
		{ID: "team-b_planner_apps_Deployment", Fields: []string{"/"}},
		{ID: "garbage", Fields: []string{"/spec"}},
	}}
	return s
}

type treeLine struct {
	ns, group, kind, name, health string
	drifted                       bool
}

func flatten(tree []NamespaceNode) []treeLine {
	var out []treeLine
	for _, n := range tree {
		for _, k := range n.Kinds {
			for _, o := range k.Objects {
				out = append(out, treeLine{n.Namespace, k.Group, k.Kind, o.Name, o.Health.Status, o.Drifted})
			}
		}
	}
	return out
}

func TestNewSyncPageTree(t *testing.T) {
	healths := func(r manifest.Ref) Health {
		switch r.Name {
		case "research", "team-a", "agents.example.org":
			return Health{Status: "Current"}
		case "planner":
			return Health{Status: "NotFound", Message: "gone"}
		}
		return Health{Status: "InProgress"}
	}
	p := NewSyncPage(inventorySync(), nil, healths, nil)

	want := []treeLine{
		{"", "apiextensions.k8s.io", "CustomResourceDefinition", "agents.example.org", "Current", false},
		{"", "", "Namespace", "team-a", "Current", false},
		{"team-a", "agent.trustsync.io", "AgentRuntime", "research", "Current", false},
		{"team-a", "apps", "Deployment", "alpha", "InProgress", false},
		{"team-a", "apps", "Deployment", "research", "Current", true},
		{"team-a", "", "Service", "research", "Current", false},
		{"team-b", "apps", "Deployment", "planner", "NotFound", true},
	}
	if got := flatten(p.Tree); !slices.Equal(got, want) {
		t.Errorf("tree:\n%v\nwant:\n%v", got, want)
	}
	if p.Objects != 7 || p.Unhealthy != 2 {
		t.Errorf("objects %d unhealthy %d, want 7 and 2", p.Objects, p.Unhealthy)
	}
	var nsUnhealthy []int
	for _, n := range p.Tree {
		nsUnhealthy = append(nsUnhealthy, n.Unhealthy)
	}
	if !slices.Equal(nsUnhealthy, []int{0, 1, 1}) {
		t.Errorf("unhealthy per namespace %v, want [0 1 1]", nsUnhealthy)
	}
	if k := p.Tree[1].Kinds[1]; k.Kind != "Deployment" || k.Unhealthy != 1 || len(k.Objects) != 2 {
		t.Errorf("team-a Deployments %+v", k)
	}
	if msg := p.Tree[2].Kinds[0].Objects[0].Health.Message; msg != "gone" {
		t.Errorf("health message %q", msg)
	}

	// Without a Healths func, every object is Unknown and so unhealthy.
	p = NewSyncPage(inventorySync(), nil, nil, nil)
	for _, l := range flatten(p.Tree) {
		if l.health != "Unknown" {
			t.Errorf("%+v: want Unknown", l)
		}
	}
	if p.Objects != 7 || p.Unhealthy != 7 {
		t.Errorf("nil healths: objects %d unhealthy %d", p.Objects, p.Unhealthy)
	}

	// No inventory: no tree.
	s := newSync("team-a", "empty")
	if p := NewSyncPage(s, nil, healths, nil); p.Tree != nil || p.Objects != 0 || p.Unhealthy != 0 || p.Drift != nil {
		t.Errorf("empty sync page %+v", p)
	}
}

func TestNewSyncPageDrift(t *testing.T) {
	p := NewSyncPage(inventorySync(), nil, nil, nil)
	if !p.DriftAt.Equal(time.Unix(1700000500, 0)) {
		t.Errorf("drift at %v", p.DriftAt)
	}
	if len(p.Drift) != 2 {
		t.Fatalf("drift rows %+v, want 2 (the malformed ID skipped)", p.Drift)
	}
	d := p.Drift[0]
	if d.Object != (manifest.Ref{Group: "apps", Kind: "Deployment", Namespace: "team-a", Name: "research"}) || d.Manager != "kubectl-edit" ||
		d.Deleted || len(d.Fields) != 3 || len(d.Diffs) != 1 || d.More != 2 {
		t.Errorf("drift row %+v", d)
	}
	d = p.Drift[1]
	if d.Object.Name != "planner" || !d.Deleted || d.More != 1 {
		t.Errorf("deleted object %+v", d)
	}

	tests := []struct {
		name    string
		fields  []string
		diffs   int
		deleted bool
		more    int
	}{
		{"whole object", []string{"/"}, 0, true, 1},
		{"root among others", []string{"/", "/spec"}, 0, false, 2},
		{"one field", []string{"/spec"}, 0, false, 1},
		{"all with values", []string{"/a", "/b"}, 2, false, 0},
		{"more diffs than fields", []string{"/a"}, 2, false, 0},
		{"nothing", nil, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSync("ns", "s")
			s.Status.Drift = &gitopsv1.DriftReport{Objects: []gitopsv1.DriftedObject{{ID: "ns_x_apps_Deployment", Fields: tt.fields,
				Diffs: make([]gitopsv1.FieldDiff, tt.diffs)}}}
			p := NewSyncPage(s, nil, nil, nil)
			if len(p.Drift) != 1 || p.Drift[0].Deleted != tt.deleted || p.Drift[0].More != tt.more {
				t.Errorf("drift %+v, want deleted %v more %d", p.Drift, tt.deleted, tt.more)
			}
			if !p.DriftAt.IsZero() {
				t.Errorf("drift at %v without detectedAt", p.DriftAt)
			}
		})
	}
}

func TestNewSyncPageHistoryPreviewsAgents(t *testing.T) {
	s := inventorySync()
	s.Status.History = []gitopsv1.HistoryEntry{
		{Revision: "main@sha1:" + sha1Hex, Result: "Succeeded", Message: "applied", StartedAt: metav1.Unix(200, 0), Duration: metav1.Duration{Duration: 2 * time.Second}},
		{Revision: "main@sha1:not-a-sha", Result: "Failed", Message: "bad"},
	}
	s.Status.Agents = []gitopsv1.AgentSummary{{Namespace: "team-a", Name: "research-agent", Type: "agent", Ready: "True", Message: "ok", SPIFFEID: "spiffe://x"}}
	src := gitSource("https://github.com/org/agents.git", "")
	src.Status.Previews = []gitopsv1.PreviewStatus{
		{Number: 3, HeadSHA: "abcdef0123456789", State: "success", Summary: "no change", PreviewedAt: metav1.Unix(300, 0)},
		{Number: 12, HeadSHA: sha1Hex, State: "failure", Summary: "access widened"},
		{Number: 7, HeadSHA: "zzz", State: "pending"},
	}
	p := NewSyncPage(s, src, nil, nil)

	if p.Row.CommitURL != "https://github.com/org/agents/commit/"+sha1Hex || p.Row.Name != "agents" || p.Row.State != Drifted {
		t.Errorf("row %+v", p.Row)
	}
	if len(p.Conditions) != 2 || p.Conditions[0].Type != gitopsv1.ReadyCondition {
		t.Errorf("conditions %+v", p.Conditions)
	}
	if p.Spec.SourceRef.Name != "repo" {
		t.Errorf("spec %+v", p.Spec)
	}

	if len(p.History) != 2 {
		t.Fatalf("history %+v", p.History)
	}
	h := p.History[0]
	if h.Revision.SHA != sha1Hex || h.CommitURL != "https://github.com/org/agents/commit/"+sha1Hex || h.Result != "Succeeded" ||
		h.Message != "applied" || !h.Started.Equal(time.Unix(200, 0)) || h.Duration != 2*time.Second {
		t.Errorf("history[0] %+v", h)
	}
	if h := p.History[1]; h.CommitURL != "" || h.Revision.Ref != "main@sha1:not-a-sha" || h.Result != "Failed" {
		t.Errorf("history[1] %+v", h)
	}

	var nums []int
	for _, pr := range p.Previews {
		nums = append(nums, pr.Number)
	}
	if !slices.Equal(nums, []int{12, 7, 3}) {
		t.Fatalf("previews %v, want newest number first", nums)
	}
	pr := p.Previews[0]
	if pr.URL != "https://github.com/org/agents/pull/12" || pr.HeadURL != "https://github.com/org/agents/commit/"+sha1Hex ||
		pr.Head != (Revision{SHA: sha1Hex, Short: sha1Hex[:12]}) || pr.State != "failure" || pr.Summary != "access widened" {
		t.Errorf("preview 12 %+v", pr)
	}
	if pr := p.Previews[1]; pr.URL != "https://github.com/org/agents/pull/7" || pr.HeadURL != "" || pr.Head.SHA != "zzz" || pr.Head.Short != "" {
		t.Errorf("preview 7 (bad sha) %+v", pr)
	}
	if pr := p.Previews[2]; pr.Head.Short != "abcdef012345" || !pr.At.Equal(time.Unix(300, 0)) {
		t.Errorf("preview 3 %+v", pr)
	}

	if len(p.Agents) != 1 || p.Agents[0] != (AgentRef{Namespace: "team-a", Name: "research-agent", Type: "agent", Ready: "True", Message: "ok"}) {
		t.Errorf("agents %+v", p.Agents)
	}

	// Without the source: no links, no previews.
	p = NewSyncPage(s, nil, nil, nil)
	if p.Row.CommitURL != "" || p.History[0].CommitURL != "" || p.Previews != nil {
		t.Errorf("no source: commit %q history %q previews %+v", p.Row.CommitURL, p.History[0].CommitURL, p.Previews)
	}

	// GitLab previews are merge requests.
	gl := gitSource("git@gitlab.com:group/sub/repo.git", "")
	gl.Status.Previews = src.Status.Previews
	p = NewSyncPage(s, gl, nil, nil)
	if p.Previews[0].URL != "https://gitlab.com/group/sub/repo/-/merge_requests/12" {
		t.Errorf("gitlab preview %q", p.Previews[0].URL)
	}
}

func TestEventRows(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.Unix(sec, 0) }
	ev := func(reason string) corev1.Event {
		return corev1.Event{Type: "Normal", Reason: reason, Message: reason + " happened"}
	}

	last := ev("last")
	last.LastTimestamp, last.Count = at(100), 4
	micro := ev("eventTime")
	micro.EventTime = metav1.NewMicroTime(time.Unix(300, 0))
	created := ev("created")
	created.CreationTimestamp = at(200)
	series := ev("series")
	series.LastTimestamp, series.Count = at(50), 2
	series.Series = &corev1.EventSeries{Count: 9}
	zero := ev("zero")
	zero.Type = "Warning"
	both := ev("both")
	both.LastTimestamp, both.EventTime, both.CreationTimestamp = at(150), metav1.NewMicroTime(time.Unix(900, 0)), at(901)

	rows := eventRows([]corev1.Event{last, micro, created, series, zero, both})
	want := []struct {
		reason string
		count  int32
		last   int64
	}{
		{"eventTime", 1, 300},
		{"created", 1, 200},
		{"both", 1, 150}, // lastTimestamp first
		{"last", 4, 100},
		{"series", 9, 50},
		{"zero", 1, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i, w := range want {
		r := rows[i]
		wantLast := time.Unix(w.last, 0)
		if w.last == 0 {
			wantLast = time.Time{}
		}
		if r.Reason != w.reason || r.Count != w.count || !r.Last.Equal(wantLast) {
			t.Errorf("[%d] = %s count %d at %v, want %s count %d at %v", i, r.Reason, r.Count, r.Last, w.reason, w.count, wantLast)
		}
	}
	if rows[5].Type != "Warning" || rows[0].Message != "eventTime happened" {
		t.Errorf("type/message not copied: %+v", rows)
	}

	// At most MaxEvents, the newest.
	var many []corev1.Event
	for i := range MaxEvents + 25 {
		e := ev(fmt.Sprint(i))
		e.LastTimestamp = at(int64(1000 + i))
		many = append(many, e)
	}
	rows = eventRows(many)
	if len(rows) != MaxEvents {
		t.Fatalf("%d rows, want %d", len(rows), MaxEvents)
	}
	if rows[0].Reason != fmt.Sprint(MaxEvents+24) || rows[MaxEvents-1].Reason != "25" {
		t.Errorf("kept %s … %s, want the newest %d", rows[0].Reason, rows[MaxEvents-1].Reason, MaxEvents)
	}
	if rows := eventRows(nil); len(rows) != 0 {
		t.Errorf("no events: %+v", rows)
	}

	// Through the page.
	p := NewSyncPage(newSync("ns", "s"), nil, nil, many)
	if len(p.Events) != MaxEvents || p.Events[0].Reason != fmt.Sprint(MaxEvents+24) {
		t.Errorf("page events %d, first %+v", len(p.Events), p.Events[0])
	}
}
