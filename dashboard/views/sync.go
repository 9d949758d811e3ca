package views

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// Health is an applied object's kstatus health: Current, InProgress, Failed,
// Terminating, NotFound or Unknown, with kstatus's message.
type Health struct {
	Status, Message string
}

// Tone of a health, in the colours of a state.
func (h Health) Tone() string {
	switch h.Status {
	case "Current":
		return "good"
	case "InProgress", "Terminating":
		return "progress"
	case "Failed", "NotFound":
		return "bad"
	}
	return "idle"
}

// Healths tells an applied object's health; Unknown when it cannot be read.
type Healths func(manifest.Ref) Health

// SyncPage is everything the Sync page shows.
type SyncPage struct {
	Row        SyncRow
	Spec       gitopsv1.SyncSpec
	Conditions []Condition
	// Tree is the inventory: namespace → kind → object, cluster-scoped objects first.
	Tree []NamespaceNode
	// Objects counts the inventory; Unhealthy those not Current.
	Objects, Unhealthy int
	Drift              []DriftRow
	DriftAt            time.Time
	History            []HistoryRow
	Events             []EventRow
	Previews           []PreviewRow
	Agents             []AgentRef
	// Fleet is the Sync's state on each cluster its clusterSelector selects; nil for a
	// Sync without one, which applies to this cluster.
	Fleet *Fleet
}

// NamespaceNode is one namespace of the inventory tree; "" for cluster-scoped objects.
type NamespaceNode struct {
	Namespace string
	Kinds     []KindNode
	Unhealthy int
}

// KindNode is one kind in a namespace of the tree.
type KindNode struct {
	Group, Kind string
	Objects     []ObjectNode
	Unhealthy   int
}

// ObjectNode is one applied object.
type ObjectNode struct {
	Name    string
	Health  Health
	Drifted bool
}

// DriftRow is one drifted object, field by field.
type DriftRow struct {
	Object  manifest.Ref
	Manager string
	// Deleted says the object itself is gone.
	Deleted bool
	Fields  []string
	Diffs   []gitopsv1.FieldDiff
	// More counts the fields beyond those with values.
	More int
}

// HistoryRow is one attempted revision.
type HistoryRow struct {
	Revision  Revision
	CommitURL string
	Result    string
	Message   string
	Started   time.Time
	Duration  time.Duration
}

// EventRow is one Event of the Sync.
type EventRow struct {
	Type, Reason, Message string
	Count                 int32
	Last                  time.Time
}

// PreviewRow is the newest preview of one open pull request of the Sync's source.
type PreviewRow struct {
	Number         int
	URL            string
	Head           Revision
	HeadURL        string
	State, Summary string
	At             time.Time
}

// AgentRef is an agent of the applied revision, for links to the agents page.
type AgentRef struct {
	Namespace, Name, Type, Ready, Message string
}

// MaxEvents bounds the events a Sync page lists, newest first.
const MaxEvents = 50

// NewSyncPage builds the Sync page. src may be nil (the source is gone); healths may be
// nil (nothing is read: every object Unknown).
func NewSyncPage(s *gitopsv1.Sync, src *gitopsv1.GitSource, healths Healths, events []corev1.Event) SyncPage {
	sources := func(string, string) *gitopsv1.GitSource { return src }
	repo := RepoOf(src)
	p := SyncPage{Row: NewSyncRow(s, sources), Spec: s.Spec, Conditions: Conditions(s.Status.Conditions)}

	drifted := map[string]bool{}
	if d := s.Status.Drift; d != nil {
		if d.DetectedAt != nil {
			p.DriftAt = d.DetectedAt.Time
		}
		for _, o := range d.Objects {
			ref, err := manifest.ParseID(o.ID)
			if err != nil {
				continue
			}
			drifted[o.ID] = true
			row := DriftRow{Object: ref, Manager: o.Manager, Fields: o.Fields, Diffs: o.Diffs, More: max(0, len(o.Fields)-len(o.Diffs))}
			row.Deleted = len(o.Fields) == 1 && o.Fields[0] == "/"
			p.Drift = append(p.Drift, row)
		}
	}
	if s.Status.Inventory != nil {
		p.Tree, p.Objects, p.Unhealthy = tree(s.Status.Inventory.Entries, healths, drifted)
	}
	for _, h := range s.Status.History {
		rev := ParseRevision(h.Revision)
		p.History = append(p.History, HistoryRow{Revision: rev, CommitURL: repo.Commit(rev.SHA), Result: h.Result, Message: h.Message,
			Started: h.StartedAt.Time, Duration: h.Duration.Duration})
	}
	p.Events = eventRows(events)
	if src != nil {
		for _, pr := range src.Status.Previews {
			head := Revision{SHA: pr.HeadSHA, Short: ParseRevision("@sha1:" + pr.HeadSHA).Short}
			p.Previews = append(p.Previews, PreviewRow{Number: pr.Number, URL: repo.PullRequest(pr.Number), Head: head, HeadURL: repo.Commit(pr.HeadSHA),
				State: pr.State, Summary: pr.Summary, At: pr.PreviewedAt.Time})
		}
		slices.SortFunc(p.Previews, func(a, b PreviewRow) int { return cmp.Compare(b.Number, a.Number) })
	}
	for _, a := range s.Status.Agents {
		p.Agents = append(p.Agents, AgentRef{Namespace: a.Namespace, Name: a.Name, Type: a.Type, Ready: a.Ready, Message: a.Message})
	}
	p.Fleet = newFleet(s, repo)
	return p
}

// tree groups inventory entries by namespace and kind, cluster-scoped ones first.
func tree(entries []gitopsv1.InventoryEntry, healths Healths, drifted map[string]bool) (out []NamespaceNode, objects, unhealthy int) {
	byNS := map[string]map[[2]string][]ObjectNode{}
	for _, e := range entries {
		ref, err := manifest.ParseID(e.ID)
		if err != nil {
			continue
		}
		h := Health{Status: "Unknown"}
		if healths != nil {
			h = healths(ref)
		}
		kinds := byNS[ref.Namespace]
		if kinds == nil {
			kinds = map[[2]string][]ObjectNode{}
			byNS[ref.Namespace] = kinds
		}
		k := [2]string{ref.Group, ref.Kind}
		kinds[k] = append(kinds[k], ObjectNode{Name: ref.Name, Health: h, Drifted: drifted[e.ID]})
	}
	for ns, kinds := range byNS {
		node := NamespaceNode{Namespace: ns}
		for k, objs := range kinds {
			slices.SortFunc(objs, func(a, b ObjectNode) int { return strings.Compare(a.Name, b.Name) })
			kn := KindNode{Group: k[0], Kind: k[1], Objects: objs}
			for _, o := range objs {
				objects++
				if o.Health.Status != "Current" {
					kn.Unhealthy++
				}
			}
			node.Unhealthy += kn.Unhealthy
			node.Kinds = append(node.Kinds, kn)
		}
		slices.SortFunc(node.Kinds, func(a, b KindNode) int {
			return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Group, b.Group))
		})
		unhealthy += node.Unhealthy
		out = append(out, node)
	}
	slices.SortFunc(out, func(a, b NamespaceNode) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out, objects, unhealthy
}

// eventRows lists events newest first, at most MaxEvents.
func eventRows(events []corev1.Event) []EventRow {
	rows := make([]EventRow, 0, len(events))
	for _, e := range events {
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		if last.IsZero() {
			last = e.CreationTimestamp.Time
		}
		count := e.Count
		if e.Series != nil {
			count = e.Series.Count
		}
		rows = append(rows, EventRow{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: max(count, 1), Last: last})
	}
	slices.SortStableFunc(rows, func(a, b EventRow) int { return b.Last.Compare(a.Last) })
	if len(rows) > MaxEvents {
		rows = rows[:MaxEvents]
	}
	return rows
}
