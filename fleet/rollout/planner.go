package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/syncs"
)

// RestWave names the wave of the clusters no wave selects.
const RestWave = "rest"

// DefaultProgressDeadline is how long a cluster may take to report the revision
// applied and healthy when the rollout does not say.
const DefaultProgressDeadline = 10 * time.Minute

// failuresNamed bounds how many failed clusters a halt message names.
const failuresNamed = 3

// Planner plans rollouts.
type Planner struct{}

var _ syncs.RolloutPlanner = Planner{}

// state is where the revision stands on one cluster.
type state int

const (
	notStarted state = iota
	inFlight         // admitted, neither done nor failed
	done             // applied and healthy
	failed           // failed, or past the progress deadline
	held             // paused by its hold annotation
)

type cluster struct {
	syncs.RolloutCluster
	state state
	why   string // of a failure
}

type wave struct {
	name     string
	selector labels.Selector
	max      *intstr.IntOrString
	clusters []*cluster
}

// Plan decides which clusters take in.Revision now.
func (Planner) Plan(in syncs.RolloutInput) syncs.RolloutPlan {
	deadline := DefaultProgressDeadline
	var soak time.Duration
	budget := len(in.Clusters) // without waves, a failed cluster halts nothing
	if r := in.Rollout; r != nil && len(r.Waves) > 0 {
		if r.ProgressDeadline != nil {
			deadline = r.ProgressDeadline.Duration
		}
		if r.Soak != nil {
			soak = r.Soak.Duration
		}
		budget = int(r.FailureBudget)
	}
	clusters := make([]*cluster, 0, len(in.Clusters))
	for _, c := range in.Clusters {
		clusters = append(clusters, classify(c, in.Revision, in.Now, deadline))
	}
	slices.SortFunc(clusters, func(a, b *cluster) int { return strings.Compare(a.Name, b.Name) })

	p := syncs.RolloutPlan{Clusters: map[string]syncs.ClusterPlan{}}
	var after time.Duration
	soonest := func(d time.Duration) {
		if d > 0 && (after == 0 || d < after) {
			after = d
		}
	}
	// A cluster in flight looks again when its progress deadline passes.
	for _, c := range clusters {
		if c.state == inFlight && c.Status.AttemptStartedAt != nil {
			soonest(c.Status.AttemptStartedAt.Add(deadline).Sub(in.Now))
		}
	}

	waves := group(in.Rollout, clusters)
	current := -1 // the first wave not complete
	for i, w := range waves {
		admitFinished(p, w)
		if current >= 0 {
			continue
		}
		failures := w.failed()
		if len(failures) > budget {
			p.Halted = haltMessage(w, failures, budget)
			p.Wave = w.name
			current = i
			admitStarted(p, w)
			continue
		}
		if wait := w.soakLeft(soak, in.Now); w.finished() && wait <= 0 {
			continue // complete: the next wave may start
		} else if w.finished() {
			soonest(wait)
		}
		current = i
		p.Wave = w.name
		admitWithin(p, w)
	}
	for i, w := range waves {
		if current < 0 || i <= current {
			continue
		}
		why := fmt.Sprintf("waiting for wave %q", waves[current].name)
		if p.Halted != "" {
			why = fmt.Sprintf("rollout halted at wave %q", waves[current].name)
		}
		// Those that started before stay admitted (admitFinished): a cluster joining an
		// earlier wave holds back only the clusters that have not started.
		for _, c := range w.clusters {
			if c.state == notStarted {
				p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Why: why}
			}
		}
	}
	p.After = after
	return p
}

// classify finds where the revision stands on a cluster from what the Sync recorded.
func classify(rc syncs.RolloutCluster, revision string, now time.Time, deadline time.Duration) *cluster {
	c := &cluster{RolloutCluster: rc}
	st := rc.Status
	started := st.LastAttemptedRevision == revision
	switch {
	case rc.Hold != "":
		c.state = held
	case st.LastAppliedRevision == revision && st.Ready == metav1.ConditionTrue && st.Result == gitopsv1.ClusterApplied:
		c.state = done
	case !started:
		c.state = notStarted
	case st.Result == gitopsv1.ClusterFailed:
		c.state, c.why = failed, st.Message
	case st.AttemptStartedAt != nil && now.Sub(st.AttemptStartedAt.Time) > deadline:
		c.state, c.why = failed, fmt.Sprintf("not applied and healthy within the progress deadline %s", deadline)
	default:
		c.state = inFlight
	}
	return c
}

// group puts each cluster in the first wave that selects it, the others in RestWave;
// empty waves are left out. Without waves, all clusters are one wave with no name.
func group(r *gitopsv1.RolloutSpec, clusters []*cluster) []*wave {
	var waves []*wave
	if r != nil {
		for i := range r.Waves {
			sel, err := metav1.LabelSelectorAsSelector(&r.Waves[i].ClusterSelector)
			if err != nil {
				sel = labels.Nothing() // the API server validates selectors; a bad one selects none
			}
			waves = append(waves, &wave{name: r.Waves[i].Name, selector: sel, max: r.Waves[i].MaxUnavailable})
		}
	}
	last := &wave{name: RestWave, selector: labels.Everything()}
	if len(waves) == 0 {
		last.name = ""
	}
	waves = append(waves, last)
	for _, c := range clusters {
		for _, w := range waves {
			if w.selector.Matches(labels.Set(c.Labels)) {
				w.clusters = append(w.clusters, c)
				break
			}
		}
	}
	return slices.DeleteFunc(waves, func(w *wave) bool { return len(w.clusters) == 0 })
}

func (w *wave) failed() []*cluster {
	var out []*cluster
	for _, c := range w.clusters {
		if c.state == failed {
			out = append(out, c)
		}
	}
	return out
}

// finished: every cluster not held is done or failed.
func (w *wave) finished() bool {
	for _, c := range w.clusters {
		if c.state == notStarted || c.state == inFlight {
			return false
		}
	}
	return true
}

// soakLeft is how long until every done cluster of the wave has been healthy for soak.
func (w *wave) soakLeft(soak time.Duration, now time.Time) time.Duration {
	if soak <= 0 {
		return 0
	}
	var left time.Duration
	for _, c := range w.clusters {
		if c.state != done {
			continue
		}
		if c.Status.HealthySince == nil {
			return soak
		}
		left = max(left, c.Status.HealthySince.Add(soak).Sub(now))
	}
	return left
}

// maxInFlight is how many of the wave's clusters may take the revision at once.
func (w *wave) maxInFlight() int {
	n := 0
	for _, c := range w.clusters {
		if c.state != held {
			n++
		}
	}
	v := intstr.FromString("100%")
	if w.max != nil {
		v = *w.max
	}
	m, err := intstr.GetScaledValueFromIntOrPercent(&v, n, true)
	if err != nil || m < 1 {
		return 1
	}
	return m
}

// admitFinished keeps the clusters of a wave that were admitted before: done, failed
// (retried) and in flight; and says why a held cluster waits.
func admitFinished(p syncs.RolloutPlan, w *wave) {
	for _, c := range w.clusters {
		switch c.state {
		case held:
			p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Why: "held: " + c.Hold}
		case done, failed, inFlight:
			p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Admit: true, Failed: c.state == failed}
		}
	}
}

// admitStarted leaves a halted wave's clusters that never started waiting.
func admitStarted(p syncs.RolloutPlan, w *wave) {
	for _, c := range w.clusters {
		if c.state == notStarted {
			p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Why: fmt.Sprintf("rollout halted at wave %q", w.name)}
		}
	}
}

// admitWithin admits the current wave's clusters that have not started, in name order,
// while fewer than maxUnavailable are in flight.
func admitWithin(p syncs.RolloutPlan, w *wave) {
	limit, inflight := w.maxInFlight(), 0
	for _, c := range w.clusters {
		if c.state == inFlight {
			inflight++
		}
	}
	for _, c := range w.clusters {
		if c.state != notStarted {
			continue
		}
		if inflight < limit {
			inflight++
			p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Admit: true}
			continue
		}
		p.Clusters[c.Name] = syncs.ClusterPlan{Wave: w.name, Why: fmt.Sprintf("waiting for a free slot in wave %q (maxUnavailable %d)", w.name, limit)}
	}
}

// haltMessage names the wave and its failed clusters.
func haltMessage(w *wave, failures []*cluster, budget int) string {
	var named []string
	for i, c := range failures {
		if i == failuresNamed {
			named = append(named, fmt.Sprintf("and %d more", len(failures)-failuresNamed))
			break
		}
		named = append(named, c.Name+": "+c.why)
	}
	total := 0
	for _, c := range w.clusters {
		if c.state != held {
			total++
		}
	}
	return fmt.Sprintf("wave %q failed: %d of %d clusters failed (budget %d): %s", w.name, len(failures), total, budget, strings.Join(named, "; "))
}
