package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/syncs"
)

const rev, old = "main@sha1:2", "main@sha1:1"

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func at(ago time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-ago)} }

// Cluster statuses as the engine records them.
var (
	behind   = gitopsv1.ClusterSyncStatus{LastAppliedRevision: old, LastAttemptedRevision: old, Ready: "True", Result: gitopsv1.ClusterApplied}
	applying = gitopsv1.ClusterSyncStatus{LastAppliedRevision: old, LastAttemptedRevision: rev, AttemptStartedAt: at(time.Minute), Ready: "Unknown", Result: gitopsv1.ClusterProgressing}
	broken   = gitopsv1.ClusterSyncStatus{LastAppliedRevision: old, LastAttemptedRevision: rev, AttemptStartedAt: at(time.Minute), Ready: "False", Result: gitopsv1.ClusterFailed, Message: "health check failed"}
	late     = gitopsv1.ClusterSyncStatus{LastAppliedRevision: old, LastAttemptedRevision: rev, AttemptStartedAt: at(11 * time.Minute), Ready: "False", Result: gitopsv1.ClusterUnreachable}
)

func healthy(ago time.Duration) gitopsv1.ClusterSyncStatus {
	return gitopsv1.ClusterSyncStatus{LastAppliedRevision: rev, LastAttemptedRevision: rev, AttemptStartedAt: at(ago + time.Minute), HealthySince: at(ago), Ready: "True", Result: gitopsv1.ClusterApplied}
}

func member(name, wave string, st gitopsv1.ClusterSyncStatus) syncs.RolloutCluster {
	return syncs.RolloutCluster{Name: name, Labels: map[string]string{"wave": wave}, Status: st}
}

func twoWaves(edit func(*gitopsv1.RolloutSpec)) *gitopsv1.RolloutSpec {
	sel := func(v string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"wave": v}}
	}
	r := &gitopsv1.RolloutSpec{Waves: []gitopsv1.Wave{{Name: "canary", ClusterSelector: sel("1")}, {Name: "prod", ClusterSelector: sel("2")}}}
	if edit != nil {
		edit(r)
	}
	return r
}

func TestPlan(t *testing.T) {
	fifty := intstr.FromString("50%")
	one := intstr.FromInt32(1)
	for _, c := range []struct {
		name     string
		rollout  *gitopsv1.RolloutSpec
		clusters []syncs.RolloutCluster
		admit    string // the admitted clusters, sorted, comma-joined
		wave     string
		halted   string // a part of the halt message; "" for none
		why      map[string]string
		after    time.Duration
	}{
		{name: "no rollout: all at once, but the held",
			clusters: []syncs.RolloutCluster{member("a", "1", behind), member("b", "2", behind), {Name: "c", Hold: "maintenance", Status: behind}},
			admit:    "a,b", why: map[string]string{"c": "held: maintenance"}},
		{name: "no rollout: a failed cluster halts nothing",
			clusters: []syncs.RolloutCluster{member("a", "1", broken), member("b", "2", behind)},
			admit:    "a,b"},
		{name: "a new revision starts in the first wave only", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", behind), member("b", "2", behind)},
			admit:    "a", wave: "canary", why: map[string]string{"b": `waiting for wave "canary"`}},
		{name: "a failure of the previous revision does not count", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", gitopsv1.ClusterSyncStatus{LastAttemptedRevision: old, Result: gitopsv1.ClusterFailed, Ready: "False"}), member("b", "2", behind)},
			admit:    "a", wave: "canary"},
		{name: "the first wave applied and healthy: the second starts", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(time.Second)), member("b", "2", behind)},
			admit:    "a,b", wave: "prod"},
		{name: "all waves done", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(time.Hour)), member("b", "2", healthy(time.Minute))},
			admit:    "a,b", wave: ""},
		{name: "healthy on the old revision is not done", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", applying), member("b", "2", behind)},
			admit:    "a", wave: "canary", after: 9 * time.Minute},
		{name: "the soak holds the next wave back", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.Soak = &metav1.Duration{Duration: 10 * time.Minute} }),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(4*time.Minute)), member("b", "2", behind)},
			admit:    "a", wave: "canary", after: 6 * time.Minute},
		{name: "the soak passed", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.Soak = &metav1.Duration{Duration: 10 * time.Minute} }),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(11*time.Minute)), member("b", "2", behind)},
			admit:    "a,b", wave: "prod"},
		{name: "a failed first wave halts the rollout", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", broken), member("b", "2", behind)},
			admit:    "a", wave: "canary", halted: `wave "canary" failed: 1 of 1 clusters failed (budget 0): a: health check failed`,
			why: map[string]string{"b": `rollout halted at wave "canary"`}},
		{name: "past the progress deadline is a failure", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", late), member("b", "2", behind)},
			admit:    "a", wave: "canary", halted: "a: not applied and healthy within the progress deadline 10m0s"},
		{name: "a failure within the budget lets the next wave start", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.FailureBudget = 1 }),
			clusters: []syncs.RolloutCluster{member("a", "1", broken), member("a2", "1", healthy(time.Minute)), member("b", "2", behind)},
			admit:    "a,a2,b", wave: "prod"},
		{name: "maxUnavailable 1: one at a time", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.Waves[0].MaxUnavailable = &one }),
			clusters: []syncs.RolloutCluster{member("a1", "1", applying), member("a2", "1", behind), member("a3", "1", behind)},
			admit:    "a1", wave: "canary", why: map[string]string{"a2": `waiting for a free slot in wave "canary" (maxUnavailable 1)`}, after: 9 * time.Minute},
		{name: "maxUnavailable 1: the next once the first is done", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.Waves[0].MaxUnavailable = &one }),
			clusters: []syncs.RolloutCluster{member("a1", "1", healthy(time.Second)), member("a2", "1", behind), member("a3", "1", behind)},
			admit:    "a1,a2", wave: "canary"},
		{name: "50% of three is two", rollout: twoWaves(func(r *gitopsv1.RolloutSpec) { r.Waves[0].MaxUnavailable = &fifty }),
			clusters: []syncs.RolloutCluster{member("a1", "1", behind), member("a2", "1", behind), member("a3", "1", behind)},
			admit:    "a1,a2", wave: "canary"},
		{name: "a held cluster does not hold its wave back", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(time.Second)), {Name: "h", Labels: map[string]string{"wave": "1"}, Hold: "freeze", Status: behind}, member("b", "2", behind)},
			admit:    "a,b", wave: "prod", why: map[string]string{"h": "held: freeze"}},
		{name: "clusters no wave selects come last", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", healthy(time.Second)), member("b", "2", healthy(time.Second)), {Name: "z", Status: behind}},
			admit:    "a,b,z", wave: RestWave},
		{name: "a cluster joining an earlier wave does not stop a started later one", rollout: twoWaves(nil),
			clusters: []syncs.RolloutCluster{member("a", "1", behind), member("b", "2", applying), member("c", "2", behind)},
			admit:    "a,b", wave: "canary", after: 9 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Planner{}.Plan(syncs.RolloutInput{Rollout: c.rollout, Revision: rev, Now: now, Clusters: c.clusters})
			var admitted []string
			for _, cl := range c.clusters {
				if p.Clusters[cl.Name].Admit {
					admitted = append(admitted, cl.Name)
				}
			}
			if got := strings.Join(admitted, ","); got != c.admit {
				t.Errorf("admitted %q, want %q (plan %+v)", got, c.admit, p.Clusters)
			}
			if p.Wave != c.wave {
				t.Errorf("wave %q, want %q", p.Wave, c.wave)
			}
			if (c.halted == "") != (p.Halted == "") || !strings.Contains(p.Halted, c.halted) {
				t.Errorf("halted %q, want it to say %q", p.Halted, c.halted)
			}
			for name, why := range c.why {
				if got := p.Clusters[name].Why; got != why {
					t.Errorf("%s waits because %q, want %q", name, got, why)
				}
			}
			if p.After != c.after {
				t.Errorf("after %s, want %s", p.After, c.after)
			}
			if c.rollout != nil {
				for _, cl := range c.clusters {
					if p.Clusters[cl.Name].Wave == "" {
						t.Errorf("%s has no wave", cl.Name)
					}
				}
			}
		})
	}
}
