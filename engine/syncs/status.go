package syncs

import (
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/renderers"
)

// historyLimit is how many revisions a Sync's status remembers.
const historyLimit = 10

// history records the outcome of a revision, newest first. Repeated outcomes of the same
// revision update the newest entry rather than push older revisions out.
func (r *Reconciler) history(s *gitopsv1.Sync, revision, result, message string, started metav1.Time) {
	entry := gitopsv1.HistoryEntry{
		Revision:  revision,
		Result:    result,
		Message:   message,
		StartedAt: started,
		Duration:  metav1.Duration{Duration: time.Since(started.Time).Round(time.Millisecond)},
	}
	h := s.Status.History
	if len(h) > 0 && h[0].Revision == revision && (h[0].Result == result || h[0].Result == "Progressing") {
		entry.StartedAt = h[0].StartedAt
		if h[0].Result == result && h[0].Message == message {
			entry.Duration = h[0].Duration // a repeat of a settled outcome changes nothing
		} else {
			entry.Duration = metav1.Duration{Duration: time.Since(h[0].StartedAt.Time).Round(time.Millisecond)}
		}
		h[0] = entry
		return
	}
	s.Status.History = append([]gitopsv1.HistoryEntry{entry}, h...)
	if len(s.Status.History) > historyLimit {
		s.Status.History = s.Status.History[:historyLimit]
	}
}

// appliedAt is when the revision was first applied, for the health timeout.
func (r *Reconciler) appliedAt(s *gitopsv1.Sync, revision string, now metav1.Time) time.Time {
	if h := s.Status.History; len(h) > 0 && h[0].Revision == revision {
		return h[0].StartedAt.Time
	}
	return now.Time
}

// recordChanges counts what a run did, in metrics and, when it changed something, in an
// event.
func (r *Reconciler) recordChanges(s *gitopsv1.Sync, applied, pruned *apply.ChangeSet) {
	for _, a := range []apply.Action{apply.Created, apply.Configured, apply.Unchanged, apply.Drifted} {
		r.Metrics.Objects(s.Namespace, s.Name, string(a), applied.Count(a))
	}
	r.Metrics.Objects(s.Namespace, s.Name, string(apply.Pruned), pruned.Count(apply.Pruned))
	changed := applied.Count(apply.Created) + applied.Count(apply.Configured) + pruned.Count(apply.Pruned)
	if changed > 0 {
		summary := applied.Summary()
		if n := pruned.Count(apply.Pruned); n > 0 {
			summary += fmt.Sprintf(", %d pruned", n)
		}
		r.event(s, "Normal", gitopsv1.ReasonSucceeded, "apply", "%s", summary)
	}
}

// driftReport writes the Drifted condition and report; it returns how many objects
// differ from Git now (warn mode) or differed before being corrected (correct mode).
func (r *Reconciler) driftReport(s *gitopsv1.Sync, cs *apply.ChangeSet) int {
	drifted := cs.Drifted()
	r.Metrics.Drifted(s.Namespace, s.Name, cs.Count(apply.Drifted))
	if len(drifted) == 0 {
		// Only a change of state is news: a correction stays on record until new drift.
		if conditions.IsTrue(s, gitopsv1.DriftedCondition) {
			conditions.MarkFalse(s, gitopsv1.DriftedCondition, gitopsv1.ReasonNoDrift, "live objects match Git again")
		}
		s.Status.Drift = nil
		return 0
	}
	report := &gitopsv1.DriftReport{DetectedAt: &metav1.Time{Time: time.Now()}}
	for _, c := range drifted {
		d := gitopsv1.DriftedObject{ID: c.Object.ID(), Fields: c.Drift, Manager: c.Manager}
		for _, f := range c.Diffs {
			d.Diffs = append(d.Diffs, gitopsv1.FieldDiff{Field: f.Field, Desired: f.Desired, Live: f.Live, Hidden: f.Hidden})
		}
		report.Objects = append(report.Objects, d)
	}
	if cs.Count(apply.Drifted) > 0 {
		s.Status.Drift = report
		conditions.MarkTrue(s, gitopsv1.DriftedCondition, gitopsv1.ReasonDriftDetected, "%d objects differ from Git: %s", len(drifted), driftSummary(cs))
		r.event(s, "Warning", gitopsv1.ReasonDriftDetected, "detect", "%d objects differ from Git: %s", len(drifted), driftSummary(cs))
	} else {
		s.Status.Drift = nil
		conditions.MarkFalse(s, gitopsv1.DriftedCondition, gitopsv1.ReasonDriftCorrected, "corrected %d objects: %s", len(drifted), driftSummary(cs))
		r.event(s, "Warning", gitopsv1.ReasonDriftCorrected, "correct", "corrected %d objects changed outside Git: %s", len(drifted), driftSummary(cs))
	}
	return len(drifted)
}

// driftSummary names the drifted objects and fields, at most three of each.
func driftSummary(cs *apply.ChangeSet) string {
	var parts []string
	for i, c := range cs.Drifted() {
		if i == 3 {
			parts = append(parts, "…")
			break
		}
		fields := c.Drift
		if len(fields) > 3 {
			fields = append(fields[:3:3], "…")
		}
		what := strings.Join(fields, ",")
		if what == "/" {
			what = "deleted"
		}
		by := ""
		if c.Manager != "" {
			by = " by " + c.Manager
		}
		parts = append(parts, fmt.Sprintf("%s %s%s", c.Object, what, by))
	}
	return strings.Join(parts, "; ")
}

// agentSummaries lists the agents of the applied revision, with what decides how they
// may call each other (for the dashboard's who-may-call-whom).
func agentSummaries(res *renderers.Result) []gitopsv1.AgentSummary {
	ids := res.Identities("") // in res.Agents' order; only their hosts are read
	out := make([]gitopsv1.AgentSummary, 0, len(res.Agents))
	for i, a := range res.Agents {
		out = append(out, gitopsv1.AgentSummary{
			Namespace:      a.Namespace,
			Name:           a.Name,
			Type:           a.Type,
			Workload:       a.Workload,
			SPIFFEID:       a.SPIFFEID,
			ServiceAccount: a.ServiceAccount,
			Host:           ids[i].Host,
			Injected:       a.Injected,
			Mode:           a.Mode,
			MTLS:           a.MTLS,
		})
	}
	return out
}
