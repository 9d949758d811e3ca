package views

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// memberCluster is a Cluster in ns/name with labels and, when status is not "", a Ready
// condition of that status, reason and message.
func memberCluster(ns, name string, labels map[string]string, status, reason, msg string) *gitopsv1.Cluster {
	c := &gitopsv1.Cluster{}
	c.Namespace, c.Name, c.Labels = ns, name, labels
	if status != "" {
		c.Status.Conditions = []metav1.Condition{{Type: gitopsv1.ReadyCondition, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg}}
	}
	return c
}

// fleetSync is a Sync in ns/name selecting clusters by labels, reporting on clusters.
func fleetSync(ns, name string, selector map[string]string, clusters ...gitopsv1.ClusterSyncStatus) *gitopsv1.Sync {
	s := newSync(ns, name, cond(gitopsv1.ReadyCondition, "True"))
	s.Spec.ClusterSelector = &metav1.LabelSelector{MatchLabels: selector}
	s.Status.Clusters = clusters
	return s
}

// fleetFixture: three Clusters in fleet (one ready, one held and unreachable, one never
// contacted and suspended), one in another namespace; two fleet Syncs in fleet, one in
// other, and a Sync without a selector that reports nothing.
func fleetFixture() ([]*gitopsv1.Cluster, []*gitopsv1.Sync) {
	contact := metav1.Unix(1700000000, 0)
	prod := memberCluster("fleet", "prod-eu", map[string]string{"env": "prod", "region": "eu"}, "True", gitopsv1.ReasonConnected, "Connected as system:serviceaccount:trustsync-system:trustsync, Kubernetes v1.37.2")
	prod.Status.ServerVersion, prod.Status.LastContact = "v1.37.2", &contact
	prod.Spec.Platform = &gitopsv1.ClusterPlatform{TrustDomain: "prod-eu.example.org"}

	held := memberCluster("fleet", "prod-us", map[string]string{"env": "prod"}, "False", gitopsv1.ReasonUnreachable, "Get \"https://10.0.0.9:6443/version\": dial tcp: i/o timeout")
	held.Annotations = map[string]string{gitopsv1.AnnotationHold: "kernel upgrade, INC-4211"}
	held.Status.ServerVersion, held.Status.LastContact = "v1.36.0", &contact // kept from the last answer

	staging := memberCluster("fleet", "staging", map[string]string{"env": "staging"}, "False", gitopsv1.ReasonSuspended, "Suspended: the cluster is not contacted")
	staging.Spec.Suspend = true

	other := memberCluster("other", "prod-eu", map[string]string{"env": "prod"}, "", "", "")

	agents := fleetSync("fleet", "agents", map[string]string{"env": "prod"},
		gitopsv1.ClusterSyncStatus{Name: "prod-eu", Wave: "prod", LastAppliedRevision: "main@sha1:" + sha1Hex, LastAttemptedRevision: "main@sha1:" + sha1Hex,
			Ready: metav1.ConditionTrue, Result: gitopsv1.ClusterApplied, Objects: 12, Agents: "3/3"},
		gitopsv1.ClusterSyncStatus{Name: "prod-us", Wave: "prod", LastAppliedRevision: "main@sha1:abcdef0", LastAttemptedRevision: "main@sha1:" + sha1Hex,
			Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterHeld, Message: "held: kernel upgrade, INC-4211"},
	)
	// Selects staging, which it has not reported on yet; reports on a cluster that is gone.
	base := fleetSync("fleet", "base", nil,
		gitopsv1.ClusterSyncStatus{Name: "prod-eu", Wave: "canary", LastAppliedRevision: "main@sha1:" + sha1Hex, LastAttemptedRevision: "main@sha1:" + sha1Hex,
			Ready: metav1.ConditionTrue, Result: gitopsv1.ClusterApplied},
		gitopsv1.ClusterSyncStatus{Name: "prod-us", Wave: "rest", Ready: metav1.ConditionUnknown, Result: gitopsv1.ClusterWaiting, Message: `waiting for wave "canary"`},
		gitopsv1.ClusterSyncStatus{Name: "gone", Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterUnreachable},
	)
	base.Spec.ClusterSelector = &metav1.LabelSelector{} // every Cluster of fleet
	// In another namespace: says nothing of fleet's prod-eu.
	otherSync := fleetSync("other", "agents", map[string]string{"env": "prod"},
		gitopsv1.ClusterSyncStatus{Name: "prod-eu", Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterFailed, Message: "apply failed"})
	// No selector: applies to the hub, whatever it carries in status.
	hub := newSync("fleet", "hub", cond(gitopsv1.ReadyCondition, "True"))
	hub.Status.Clusters = []gitopsv1.ClusterSyncStatus{{Name: "prod-eu", Result: gitopsv1.ClusterFailed}}
	return []*gitopsv1.Cluster{staging, other, held, prod}, []*gitopsv1.Sync{hub, otherSync, agents, base}
}

func TestNewClusterRow(t *testing.T) {
	clusters, syncs := fleetFixture()
	staging, other, held, prod := clusters[0], clusters[1], clusters[2], clusters[3]
	fleetSyncs := syncs // NewClusterRow ignores the Syncs of other namespaces and without a selector

	type syncLine struct {
		sync     string
		reported bool
		result   gitopsv1.ClusterResult
		tone     string
		applied  string
		tried    string
		wave     string
		message  string
	}
	lines := func(r ClusterRow) []syncLine {
		var out []syncLine
		for _, s := range r.Syncs {
			out = append(out, syncLine{s.Namespace + "/" + s.Name, s.Reported, s.Result, s.Tone, s.Applied.Short, s.Attempted.Short, s.Wave, s.Message})
		}
		return out
	}
	tests := []struct {
		name        string
		c           *gitopsv1.Cluster
		ready       Condition
		version     string
		contact     time.Time
		trustDomain string
		held        bool
		hold        string
		suspended   bool
		labels      []string
		syncs       []syncLine
	}{
		{
			name:    "ready, with its trust domain, applied by two Syncs",
			c:       prod,
			ready:   Condition{Type: "Ready", Status: "True", Reason: "Connected", Message: "Connected as system:serviceaccount:trustsync-system:trustsync, Kubernetes v1.37.2", Tone: "good"},
			version: "v1.37.2", contact: time.Unix(1700000000, 0), trustDomain: "prod-eu.example.org",
			labels: []string{"env=prod", "region=eu"},
			syncs: []syncLine{
				{"fleet/agents", true, gitopsv1.ClusterApplied, "good", sha1Hex[:12], "", "prod", ""},
				{"fleet/base", true, gitopsv1.ClusterApplied, "good", sha1Hex[:12], "", "canary", ""},
			},
		},
		{
			name:    "held and unreachable, with why",
			c:       held,
			ready:   Condition{Type: "Ready", Status: "False", Reason: "Unreachable", Message: `Get "https://10.0.0.9:6443/version": dial tcp: i/o timeout`, Tone: "bad"},
			version: "v1.36.0", contact: time.Unix(1700000000, 0), held: true, hold: "kernel upgrade, INC-4211",
			labels: []string{"env=prod"},
			syncs: []syncLine{
				{"fleet/agents", true, gitopsv1.ClusterHeld, "warn", "abcdef0", sha1Hex[:12], "prod", "held: kernel upgrade, INC-4211"},
				{"fleet/base", true, gitopsv1.ClusterWaiting, "idle", "", "", "rest", `waiting for wave "canary"`},
			},
		},
		{
			name:      "suspended, never contacted, selected but not reported on",
			c:         staging,
			ready:     Condition{Type: "Ready", Status: "False", Reason: "Suspended", Message: "Suspended: the cluster is not contacted", Tone: "idle"},
			suspended: true, labels: []string{"env=staging"},
			// agents selects env=prod: not staging.
			syncs: []syncLine{{"fleet/base", false, "", "idle", "", "", "", ""}},
		},
		{
			name:   "no condition yet; only its own namespace's Syncs",
			c:      other,
			ready:  Condition{Type: "Ready", Status: "Unknown", Tone: "idle"},
			labels: []string{"env=prod"},
			syncs:  []syncLine{{"other/agents", true, gitopsv1.ClusterFailed, "bad", "", "", "", "apply failed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewClusterRow(tt.c, fleetSyncs)
			if r.Namespace != tt.c.Namespace || r.Name != tt.c.Name {
				t.Errorf("row %s/%s", r.Namespace, r.Name)
			}
			if r.Ready != tt.ready {
				t.Errorf("ready %+v, want %+v", r.Ready, tt.ready)
			}
			if r.ServerVersion != tt.version || !r.LastContact.Equal(tt.contact) || r.TrustDomain != tt.trustDomain {
				t.Errorf("version %q contact %v trust domain %q", r.ServerVersion, r.LastContact, r.TrustDomain)
			}
			if r.Held != tt.held || r.Hold != tt.hold || r.Suspended != tt.suspended {
				t.Errorf("held %v %q suspended %v", r.Held, r.Hold, r.Suspended)
			}
			if !slices.Equal(r.Labels, tt.labels) {
				t.Errorf("labels %v, want %v", r.Labels, tt.labels)
			}
			if got := lines(r); !slices.Equal(got, tt.syncs) {
				t.Errorf("syncs\n got %+v\nwant %+v", got, tt.syncs)
			}
		})
	}

	// A hold annotation with an empty value still holds.
	c := memberCluster("fleet", "x", nil, "", "", "")
	c.Annotations = map[string]string{gitopsv1.AnnotationHold: ""}
	if r := NewClusterRow(c, nil); !r.Held || r.Hold != "" || r.Labels != nil || r.Syncs != nil {
		t.Errorf("empty hold: %+v", r)
	}
	// A selector that does not parse selects nothing, rather than failing the page.
	bad := fleetSync("fleet", "bad", nil)
	bad.Spec.ClusterSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}
	if r := NewClusterRow(prod, []*gitopsv1.Sync{bad}); r.Syncs != nil {
		t.Errorf("a bad selector selects %+v", r.Syncs)
	}
}

func TestNewClustersPage(t *testing.T) {
	tests := []struct {
		name                  string
		q                     Query
		empty                 bool
		want                  []string
		total, notReady, held int
		namespaces            []string
	}{
		{name: "no cluster registered", empty: true, namespaces: []string{}},
		{name: "all, by namespace then name", want: []string{"fleet/prod-eu", "fleet/prod-us", "fleet/staging", "other/prod-eu"}},
		{name: "namespace", q: Query{Namespace: "other"}, want: []string{"other/prod-eu"}},
		{name: "text on a label", q: Query{Text: "STAGING"}, want: []string{"fleet/staging"}},
		{name: "text on the trust domain", q: Query{Text: "prod-eu.example"}, want: []string{"fleet/prod-eu"}},
		{name: "text on the Ready message", q: Query{Text: "i/o timeout"}, want: []string{"fleet/prod-us"}},
		{name: "text on the hold", q: Query{Text: "INC-4211"}, want: []string{"fleet/prod-us"}},
		{name: "text on the version", q: Query{Text: "v1.36"}, want: []string{"fleet/prod-us"}},
		{name: "text matches nothing", q: Query{Text: "nothing-like-this"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clusters, syncs := fleetFixture()
			total, notReady, held, namespaces := 4, 3, 1, []string{"fleet", "other"}
			if tt.empty {
				clusters, total, notReady, held, namespaces = nil, 0, 0, 0, tt.namespaces
			}
			tt.q.Page, tt.q.Size = 1, DefaultPageSize
			p := NewClustersPage(clusters, syncs, tt.q)
			var keys []string
			for _, r := range p.Rows {
				keys = append(keys, r.Namespace+"/"+r.Name)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("rows %v, want %v", keys, tt.want)
			}
			// The counts are over every Cluster, whatever the filter.
			if p.Total != total || p.NotReady != notReady || p.Held != held {
				t.Errorf("total %d not ready %d held %d, want %d %d %d", p.Total, p.NotReady, p.Held, total, notReady, held)
			}
			if !slices.Equal(p.Namespaces, namespaces) {
				t.Errorf("namespaces %v, want %v", p.Namespaces, namespaces)
			}
			if p.Paging.Total != len(tt.want) {
				t.Errorf("paging %+v", p.Paging)
			}
		})
	}

	// Paged on the server, as every list.
	clusters, syncs := fleetFixture()
	p := NewClustersPage(clusters, syncs, Query{Page: 2, Size: 3})
	if len(p.Rows) != 1 || p.Rows[0].Namespace != "other" || p.Paging.Pages != 2 {
		t.Errorf("page 2 of 3 a page: %+v %+v", p.Rows, p.Paging)
	}
}

func TestClusterResultTone(t *testing.T) {
	tests := map[gitopsv1.ClusterResult]string{
		gitopsv1.ClusterApplied: "good", gitopsv1.ClusterProgressing: "progress", gitopsv1.ClusterHeld: "warn",
		gitopsv1.ClusterFailed: "bad", gitopsv1.ClusterUnreachable: "bad", gitopsv1.ClusterWaiting: "idle", "": "idle", "Other": "idle",
	}
	for r, tone := range tests {
		if got := ClusterResultTone(r); got != tone {
			t.Errorf("%q: %q, want %q", r, got, tone)
		}
	}
}

func TestNewSyncPageFleet(t *testing.T) {
	src := gitSource("https://github.com/org/agents.git", "")
	tests := []struct {
		name     string
		sync     func() *gitopsv1.Sync
		nilFleet bool
		selector string
		applied  int
		rows     []ClusterStatusRow
	}{
		{
			name: "a Sync without a clusterSelector has no fleet, whatever its status says",
			sync: func() *gitopsv1.Sync {
				s := inventorySync()
				s.Status.Clusters = []gitopsv1.ClusterSyncStatus{{Name: "x"}}
				return s
			},
			nilFleet: true,
		},
		{
			name: "every cluster, none reported yet",
			sync: func() *gitopsv1.Sync {
				s := fleetSync("fleet", "base", nil)
				s.Spec.ClusterSelector = &metav1.LabelSelector{}
				return s
			},
		},
		{
			name: "applied, failed with its message, unreachable; in the status's order",
			sync: func() *gitopsv1.Sync {
				return fleetSync("fleet", "agents", map[string]string{"env": "prod"},
					gitopsv1.ClusterSyncStatus{Name: "prod-us", Wave: "prod", LastAppliedRevision: "main@sha1:abcdef0", LastAttemptedRevision: "main@sha1:" + sha1Hex,
						Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterFailed, Message: `applying: Deployment team-a/x: <script>alert(1)</script>`, Objects: 4, Drifted: 1, Agents: "1/2"},
					gitopsv1.ClusterSyncStatus{Name: "prod-eu", Wave: "prod", LastAppliedRevision: "main@sha1:" + sha1Hex, LastAttemptedRevision: "main@sha1:" + sha1Hex,
						Ready: metav1.ConditionTrue, Result: gitopsv1.ClusterApplied, Objects: 12, Agents: "3/3"},
					gitopsv1.ClusterSyncStatus{Name: "edge-1", Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterUnreachable, Message: "the hub could not reach it"},
				)
			},
			selector: "env=prod", applied: 1,
			rows: []ClusterStatusRow{
				{Namespace: "fleet", Name: "prod-us", Wave: "prod", Result: gitopsv1.ClusterFailed, Tone: "bad", Ready: "False",
					Applied: ParseRevision("main@sha1:abcdef0"), Attempted: ParseRevision("main@sha1:" + sha1Hex),
					AppliedURL: "https://github.com/org/agents/commit/abcdef0", AttemptedURL: "https://github.com/org/agents/commit/" + sha1Hex,
					Objects: 4, Drifted: 1, Agents: "1/2", Message: `applying: Deployment team-a/x: <script>alert(1)</script>`},
				{Namespace: "fleet", Name: "prod-eu", Wave: "prod", Result: gitopsv1.ClusterApplied, Tone: "good", Ready: "True",
					Applied: ParseRevision("main@sha1:" + sha1Hex), Attempted: ParseRevision("main@sha1:" + sha1Hex),
					AppliedURL: "https://github.com/org/agents/commit/" + sha1Hex, AttemptedURL: "https://github.com/org/agents/commit/" + sha1Hex,
					Objects: 12, Agents: "3/3"},
				{Namespace: "fleet", Name: "edge-1", Result: gitopsv1.ClusterUnreachable, Tone: "bad", Ready: "False", Message: "the hub could not reach it"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewSyncPage(tt.sync(), src, nil, nil)
			if tt.nilFleet {
				if p.Fleet != nil {
					t.Errorf("fleet %+v", p.Fleet)
				}
				return
			}
			if p.Fleet == nil {
				t.Fatal("no fleet")
			}
			if p.Fleet.Selector != tt.selector || p.Fleet.Applied != tt.applied {
				t.Errorf("selector %q applied %d", p.Fleet.Selector, p.Fleet.Applied)
			}
			if !slices.Equal(p.Fleet.Clusters, tt.rows) {
				t.Errorf("clusters\n got %+v\nwant %+v", p.Fleet.Clusters, tt.rows)
			}
		})
	}
}
