package views

import (
	"cmp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// ClusterRow is one registered member Cluster on the clusters page.
type ClusterRow struct {
	Namespace, Name string
	// Labels are key=value, sorted: what the Syncs' clusterSelectors select on.
	Labels []string
	// Ready is the hub's last contact's verdict, with its reason and message; Unknown
	// before the first contact.
	Ready         Condition
	ServerVersion string
	// LastContact is when the cluster last answered; zero: never.
	LastContact time.Time
	// TrustDomain is the cluster's own SPIFFE trust domain; "" when it keeps the hub's.
	TrustDomain string
	Suspended   bool
	// Held says the hold annotation pauses the cluster in every rollout; Hold is its
	// value, why.
	Held bool
	Hold string
	// Syncs are the fleet Syncs that deliver to it, by namespace and name.
	Syncs []ClusterSync
}

// ClusterSync is where one fleet Sync stands on one cluster, as its status.clusters
// entry for it says.
type ClusterSync struct {
	// Namespace and Name of the Sync.
	Namespace, Name string
	// Reported is false for a Sync whose selector selects the cluster but that has not
	// reported on it yet: the fields below are empty.
	Reported bool
	Result   gitopsv1.ClusterResult
	Tone     string
	// Ready is the entry's ready: True, False or Unknown.
	Ready   string
	Wave    string
	Applied Revision
	// Attempted is the revision last tried there, when it is not Applied.
	Attempted Revision
	Message   string
}

// ClustersPage is the page of registered Clusters.
type ClustersPage struct {
	Query Query
	// Total is the number of Clusters before filtering; NotReady and Held count those
	// (of all) whose Ready is not True and those held.
	Total, NotReady, Held int
	Rows                  []ClusterRow
	Paging                Paging
	Namespaces            []string
}

// NewClustersPage lists the Clusters, each with the fleet Syncs that deliver to it: the
// Syncs of its namespace with a clusterSelector that report on it in status.clusters or
// whose selector selects its labels. The query's State is ignored; its text matches
// name, namespace, labels, trust domain, version, the Ready message and the hold.
func NewClustersPage(clusters []*gitopsv1.Cluster, syncs []*gitopsv1.Sync, q Query) ClustersPage {
	fleet := map[string][]*gitopsv1.Sync{} // by namespace
	for _, s := range syncs {
		if s.Spec.ClusterSelector != nil {
			fleet[s.Namespace] = append(fleet[s.Namespace], s)
		}
	}
	p := ClustersPage{Query: q, Total: len(clusters)}
	namespaces := map[string]bool{}
	var rows []ClusterRow
	for _, c := range clusters {
		namespaces[c.Namespace] = true
		row := NewClusterRow(c, fleet[c.Namespace])
		if row.Ready.Status != string(metav1.ConditionTrue) {
			p.NotReady++
		}
		if row.Held {
			p.Held++
		}
		if q.Namespace != "" && c.Namespace != q.Namespace ||
			!q.matches(append([]string{c.Name, c.Namespace, row.TrustDomain, row.ServerVersion, row.Ready.Message, row.Hold}, row.Labels...)...) {
			continue
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b ClusterRow) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	lo, hi, pg := q.page(len(rows))
	p.Rows, p.Paging, p.Namespaces = rows[lo:hi], pg, sortedKeys(namespaces)
	return p
}

// NewClusterRow summarises one Cluster, with what the fleet Syncs among syncs (those of
// its namespace with a clusterSelector; others are ignored) say of it.
func NewClusterRow(c *gitopsv1.Cluster, syncs []*gitopsv1.Sync) ClusterRow {
	row := ClusterRow{Namespace: c.Namespace, Name: c.Name, ServerVersion: c.Status.ServerVersion, Suspended: c.Spec.Suspend,
		Ready: Condition{Type: gitopsv1.ReadyCondition, Status: string(metav1.ConditionUnknown), Tone: "idle"}}
	for k, v := range c.Labels {
		row.Labels = append(row.Labels, k+"="+v)
	}
	slices.Sort(row.Labels)
	if cond := meta.FindStatusCondition(c.Status.Conditions, gitopsv1.ReadyCondition); cond != nil {
		row.Ready = Condition{Type: cond.Type, Status: string(cond.Status), Reason: cond.Reason, Message: cond.Message, Since: cond.LastTransitionTime, Tone: conditionTone(*cond)}
		if c.Spec.Suspend && cond.Status != metav1.ConditionTrue {
			row.Ready.Tone = "idle" // not contacted by choice, not broken
		}
	}
	if c.Status.LastContact != nil {
		row.LastContact = c.Status.LastContact.Time
	}
	if c.Spec.Platform != nil {
		row.TrustDomain = c.Spec.Platform.TrustDomain
	}
	row.Hold, row.Held = c.Annotations[gitopsv1.AnnotationHold]
	set := labels.Set(c.Labels)
	for _, s := range syncs {
		if s.Namespace != c.Namespace || s.Spec.ClusterSelector == nil {
			continue
		}
		i := slices.IndexFunc(s.Status.Clusters, func(st gitopsv1.ClusterSyncStatus) bool { return st.Name == c.Name })
		if i >= 0 {
			row.Syncs = append(row.Syncs, clusterSync(s, &s.Status.Clusters[i]))
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(s.Spec.ClusterSelector); err == nil && sel.Matches(set) {
			row.Syncs = append(row.Syncs, ClusterSync{Namespace: s.Namespace, Name: s.Name, Tone: "idle"})
		}
	}
	slices.SortFunc(row.Syncs, func(a, b ClusterSync) int { return cmp.Compare(a.Name, b.Name) })
	return row
}

func clusterSync(s *gitopsv1.Sync, st *gitopsv1.ClusterSyncStatus) ClusterSync {
	cs := ClusterSync{Namespace: s.Namespace, Name: s.Name, Reported: true, Result: st.Result, Tone: ClusterResultTone(st.Result),
		Ready: string(st.Ready), Wave: st.Wave, Applied: ParseRevision(st.LastAppliedRevision), Message: st.Message}
	if st.LastAttemptedRevision != st.LastAppliedRevision {
		cs.Attempted = ParseRevision(st.LastAttemptedRevision)
	}
	return cs
}

// ClusterResultTone is the colour of a Sync's result on a cluster: Applied good,
// Progressing progress, Held warn, Failed and Unreachable bad, Waiting (and anything
// else) idle.
func ClusterResultTone(r gitopsv1.ClusterResult) string {
	switch r {
	case gitopsv1.ClusterApplied:
		return "good"
	case gitopsv1.ClusterProgressing:
		return "progress"
	case gitopsv1.ClusterHeld:
		return "warn"
	case gitopsv1.ClusterFailed, gitopsv1.ClusterUnreachable:
		return "bad"
	}
	return "idle"
}

// ClusterStatusRow is one entry of a fleet Sync's status.clusters, on the Sync page.
type ClusterStatusRow struct {
	// Namespace (the Sync's) and Name of the Cluster.
	Namespace, Name string
	Wave            string
	Result          gitopsv1.ClusterResult
	Tone            string
	Ready           string
	// Applied and Attempted are the revisions last applied whole and last tried there,
	// each linked to its commit when the Git host is known.
	Applied, Attempted       Revision
	AppliedURL, AttemptedURL string
	Objects, Drifted         int32
	// Agents is "<ready>/<total>" of the revision's agents there; "" when none.
	Agents  string
	Message string
}

// Fleet is what the Sync page shows of a Sync with a clusterSelector.
type Fleet struct {
	// Selector is the clusterSelector, as kubectl writes one; "" when it selects every
	// Cluster of the namespace.
	Selector string
	Clusters []ClusterStatusRow
	// Applied counts the clusters whose result is Applied.
	Applied int
}

// newFleet is the Sync page's Fleet of s; nil without a clusterSelector.
func newFleet(s *gitopsv1.Sync, repo Repo) *Fleet {
	if s.Spec.ClusterSelector == nil {
		return nil
	}
	f := &Fleet{Selector: metav1.FormatLabelSelector(s.Spec.ClusterSelector)}
	if f.Selector == "<none>" {
		f.Selector = ""
	}
	for _, st := range s.Status.Clusters {
		row := ClusterStatusRow{Namespace: s.Namespace, Name: st.Name, Wave: st.Wave, Result: st.Result, Tone: ClusterResultTone(st.Result),
			Ready: string(st.Ready), Applied: ParseRevision(st.LastAppliedRevision), Attempted: ParseRevision(st.LastAttemptedRevision),
			Objects: st.Objects, Drifted: st.Drifted, Agents: st.Agents, Message: st.Message}
		row.AppliedURL, row.AttemptedURL = repo.Commit(row.Applied.SHA), repo.Commit(row.Attempted.SHA)
		if st.Result == gitopsv1.ClusterApplied {
			f.Applied++
		}
		f.Clusters = append(f.Clusters, row)
	}
	return f
}
