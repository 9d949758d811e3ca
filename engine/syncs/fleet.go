package syncs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

// membersAtOnce bounds how many member clusters one fleet Sync applies to at once.
const membersAtOnce = 4

// memberKey names a Sync's state on one member cluster in the reconciler's per-Sync
// maps; "/" is in no object name, so it never meets a Sync's own key.
func memberKey(sync types.NamespacedName, cluster string) types.NamespacedName {
	return types.NamespacedName{Namespace: sync.Namespace, Name: sync.Name + "/" + cluster}
}

func isMemberKey(k, sync types.NamespacedName) bool {
	return k.Namespace == sync.Namespace && strings.HasPrefix(k.Name, sync.Name+"/")
}

// forgetKeys drops a Sync's entries from one of the reconciler's maps, its member
// clusters' too.
func forgetKeys[V any](m map[types.NamespacedName]V, sync types.NamespacedName) {
	for k := range m {
		if k == sync || isMemberKey(k, sync) {
			delete(m, k)
		}
	}
}

// targetState is what the reconciler keeps of a member cluster across Syncs: the
// Manager of its platform objects and the watch of its objects for drift.
type targetState struct {
	target *Target
	watch  *driftWatch

	mu       sync.Mutex // the fleet Syncs of one cluster apply its platform objects in turn
	platform *apply.Manager
}

func (ts *targetState) applyPlatform(ctx context.Context, objs []*manifest.Object) error {
	objs = withoutUnservedOperands(ts.target.Mapper, objs)
	if len(objs) == 0 {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, err := ts.platform.Apply(ctx, objs)
	return err
}

// memberRun is one member cluster's part of a fleet Sync's attempt.
type memberRun struct {
	a      *attempt
	m      Member
	key    types.NamespacedName
	status gitopsv1.ClusterSyncStatus
	// next is when this cluster wants another look (0: with the interval).
	next time.Duration
	res  *renderers.Result
}

// reconcileFleet applies the revision to each selected Cluster its rollout admits, each
// all or nothing with its own inventory, drift and health, records each in
// status.clusters and sums them up in the Sync's conditions and commit status.
func (r *Reconciler) reconcileFleet(ctx context.Context, a *attempt) time.Duration {
	s := a.s
	members, f := r.members(ctx, s)
	if f != nil {
		return r.fail(ctx, a, f)
	}
	statuses := map[string]gitopsv1.ClusterSyncStatus{}
	for _, c := range s.Status.Clusters {
		statuses[c.Name] = c
	}
	now := time.Now()
	done := map[string]*memberRun{}
	var plan RolloutPlan
	// A wave that completes in this pass lets the next one start in it too.
	for range len(members) + 1 {
		plan = r.plan(s, a.revision, members, statuses, now)
		var runs []*memberRun
		for _, m := range members {
			if cp := plan.Clusters[m.Cluster.Name]; cp.Admit && done[m.Cluster.Name] == nil {
				runs = append(runs, &memberRun{a: a, m: m, key: memberKey(a.key, m.Cluster.Name), status: statuses[m.Cluster.Name]})
			}
		}
		if len(runs) == 0 {
			break
		}
		r.runMembers(ctx, runs, plan)
		for _, run := range runs {
			done[run.m.Cluster.Name] = run
			statuses[run.m.Cluster.Name] = run.status
		}
	}
	s.Status.Clusters = s.Status.Clusters[:0]
	for _, m := range members {
		st := statuses[m.Cluster.Name]
		if done[m.Cluster.Name] == nil {
			st = waiting(st, m.Cluster.Name, a.revision, plan.Clusters[m.Cluster.Name])
		}
		s.Status.Clusters = append(s.Status.Clusters, st)
	}
	return r.summarize(ctx, a, plan, done)
}

// members lists the Clusters the Sync selects.
func (r *Reconciler) members(ctx context.Context, s *gitopsv1.Sync) ([]Member, *failure) {
	if r.Members == nil {
		return nil, &failure{reason: gitopsv1.ReasonValidationFailed, kind: "configuration", err: errors.New("this controller delivers to no fleet: spec.clusterSelector cannot be served"), stalled: true}
	}
	sel, err := metav1.LabelSelectorAsSelector(s.Spec.ClusterSelector)
	if err != nil {
		return nil, &failure{reason: gitopsv1.ReasonValidationFailed, kind: "configuration", err: fmt.Errorf("spec.clusterSelector: %w", err), stalled: true}
	}
	members, err := r.Members.Members(ctx, s.Namespace, sel)
	if err != nil {
		return nil, &failure{reason: gitopsv1.ReasonApplyFailed, kind: "listing the clusters", err: err}
	}
	if len(members) == 0 {
		return nil, &failure{reason: gitopsv1.ReasonNoClusters, kind: "targeting", err: fmt.Errorf("spec.clusterSelector %s selects no Cluster in namespace %s", sel, s.Namespace)}
	}
	return members, nil
}

// plan asks the rollout planner which clusters take the revision now.
func (r *Reconciler) plan(s *gitopsv1.Sync, revision string, members []Member, statuses map[string]gitopsv1.ClusterSyncStatus, now time.Time) RolloutPlan {
	in := RolloutInput{Rollout: s.Spec.Rollout, Revision: revision, Now: now}
	for _, m := range members {
		in.Clusters = append(in.Clusters, RolloutCluster{
			Name:   m.Cluster.Name,
			Labels: m.Cluster.Labels,
			Hold:   m.Cluster.Annotations[gitopsv1.AnnotationHold],
			Status: statuses[m.Cluster.Name],
		})
	}
	if r.Rollout == nil {
		return allAtOnce(in)
	}
	return r.Rollout.Plan(in)
}

// allAtOnce admits every cluster not held: the plan without a rollout planner.
func allAtOnce(in RolloutInput) RolloutPlan {
	p := RolloutPlan{Clusters: map[string]ClusterPlan{}}
	for _, c := range in.Clusters {
		if c.Hold != "" {
			p.Clusters[c.Name] = ClusterPlan{Why: "held: " + c.Hold}
			continue
		}
		p.Clusters[c.Name] = ClusterPlan{Admit: true}
	}
	return p
}

// waiting is the status of a cluster the rollout does not admit now: it keeps what it
// has, and says why it waits.
func waiting(st gitopsv1.ClusterSyncStatus, name, revision string, cp ClusterPlan) gitopsv1.ClusterSyncStatus {
	st.Name, st.Wave = name, cp.Wave
	st.Result, st.Message = gitopsv1.ClusterWaiting, cp.Why
	if strings.HasPrefix(cp.Why, "held") {
		st.Result = gitopsv1.ClusterHeld
	}
	if st.Ready == "" || st.LastAppliedRevision != revision {
		// Not on the revision the Sync rolls out.
		st.Ready = metav1.ConditionFalse
	}
	return st
}

// runMembers reconciles the admitted clusters, a few at once.
func (r *Reconciler) runMembers(ctx context.Context, runs []*memberRun, plan RolloutPlan) {
	var g errgroup.Group
	g.SetLimit(membersAtOnce)
	for _, run := range runs {
		run.status.Name, run.status.Wave = run.m.Cluster.Name, plan.Clusters[run.m.Cluster.Name].Wave
		g.Go(func() error {
			r.reconcileMember(log.IntoContext(ctx, log.FromContext(ctx).WithValues("cluster", run.m.Cluster.Name)), run)
			return nil // a cluster's failure is in its status; the others go on
		})
	}
	_ = g.Wait()
}

// reconcileMember renders the revision with the cluster's platform and overlay and
// applies it there: platform objects, the Sync's own, prune, drift, health; then posts
// the cluster's commit status.
func (r *Reconciler) reconcileMember(ctx context.Context, run *memberRun) {
	a, st := run.a, &run.status
	if st.LastAttemptedRevision != a.revision || st.AttemptStartedAt == nil {
		st.LastAttemptedRevision, st.AttemptStartedAt = a.revision, &metav1.Time{Time: time.Now()}
	}
	if run.m.Target == nil {
		r.memberFailed(ctx, run, gitopsv1.ClusterUnreachable, fmt.Errorf("unreachable: %w", run.m.Err))
		return
	}
	p := r.Platform.ForCluster(run.m.Cluster.Spec.Platform)
	dir, err := overlay(a.art, a.s.Spec, run.m.Cluster)
	if err != nil {
		r.memberFailed(ctx, run, gitopsv1.ClusterFailed, err)
		return
	}
	variant := fmt.Sprintf("%s|%+v", dir, run.m.Cluster.Spec.Platform)
	res, err := r.renders.render(run.key, a.key, a.art, dir, a.s.Spec.TargetNamespace, p, variant)
	if err != nil {
		r.memberFailed(ctx, run, gitopsv1.ClusterFailed, fmt.Errorf("render of %s failed: %w", dir, err))
		return
	}
	run.res = res
	ts, err := r.targetState(run.m)
	if err != nil {
		r.memberFailed(ctx, run, gitopsv1.ClusterFailed, err)
		return
	}
	platform, own := splitPlatform(res.Objects)
	if err := ts.applyPlatform(ctx, platform); err != nil {
		r.memberFailed(ctx, run, resultOf(err), fmt.Errorf("apply of the platform objects failed: %w", err))
		return
	}
	o, err := r.memberOwner(a.s, run.key, run.m.Target)
	if err != nil {
		r.memberFailed(ctx, run, gitopsv1.ClusterFailed, err)
		return
	}
	cs, err := o.mgr.Apply(ctx, own)
	if err != nil {
		r.memberFailed(ctx, run, resultOf(err), fmt.Errorf("apply failed: %w", err))
		return
	}
	if cs.Count(apply.Created)+cs.Count(apply.Configured) > 0 {
		r.changed(run.key)
	}
	ts.watch.ensure(ctx, cs)
	if err := r.pruneMember(ctx, run, o, cs); err != nil {
		r.memberFailed(ctx, run, resultOf(err), fmt.Errorf("prune failed: %w", err))
		return
	}
	st.Drifted = int32(len(cs.Drifted()))
	if a.s.Spec.Wait {
		hr, err := r.healthOf(ctx, run.m.Target.Objects, cs, a.s, r.lastChange(run.key, st.AttemptStartedAt.Time))
		if err != nil {
			r.memberFailed(ctx, run, gitopsv1.ClusterFailed, fmt.Errorf("health check failed: %w", err))
			return
		}
		if !hr.Healthy() {
			st.Ready, st.Result, st.Message = metav1.ConditionUnknown, gitopsv1.ClusterProgressing, "waiting for "+hr.Summary(3)
			run.next = r.Options.HealthInterval
			return
		}
	}
	r.answered(run.key)
	agents := r.agentStatusIn(ctx, run.m.Target, agentSummaries(res))
	if st.Ready != metav1.ConditionTrue || st.LastAppliedRevision != a.revision {
		st.HealthySince = &metav1.Time{Time: time.Now()}
	}
	st.LastAppliedRevision, st.Ready, st.Result, st.Message = a.revision, metav1.ConditionTrue, gitopsv1.ClusterApplied, ""
	st.Agents = ""
	if agents.reported > 0 {
		st.Agents = fmt.Sprintf("%d/%d", agents.ready, agents.total)
	}
	summary := fmt.Sprintf("applied %d objects, %d drifted", len(cs.Changes), st.Drifted)
	if st.Drifted > 0 && a.s.Spec.Drift != nil && a.s.Spec.Drift.Mode == gitopsv1.DriftWarn {
		st.Message = fmt.Sprintf("%d objects drifted: %s", st.Drifted, driftSummary(cs))
		r.reportMember(ctx, run, Failure, "%s", st.Message)
		return
	}
	r.reportMember(ctx, run, agents.state(), "%s%s", summary, agents.suffix())
}

// resultOf is how an error leaves a cluster: unreachable when its API server did not
// answer, failed otherwise.
func resultOf(err error) gitopsv1.ClusterResult {
	if ctrlkit.Unavailable(err) {
		return gitopsv1.ClusterUnreachable
	}
	return gitopsv1.ClusterFailed
}

// memberFailed records a cluster's failure and posts it on its commit status.
func (r *Reconciler) memberFailed(ctx context.Context, run *memberRun, result gitopsv1.ClusterResult, err error) {
	st := &run.status
	st.Ready, st.Result, st.Message = metav1.ConditionFalse, result, firstProblem(err)
	run.next = run.a.retry
	if result == gitopsv1.ClusterUnreachable {
		run.next = r.retryUnavailable(run.key, run.a.retry)
	} else {
		r.answered(run.key)
	}
	log.FromContext(ctx).Info("revision failed on a member cluster", "revision", run.a.revision, "error", oneLine(err))
	r.reportMember(ctx, run, Failure, "%s", st.Message)
}

// reportMember posts the cluster's own commit status.
func (r *Reconciler) reportMember(ctx context.Context, run *memberRun, state State, format string, args ...any) {
	a := run.a
	r.report(ctx, run.key, a.s, a.src, a.art.Commit, Report{Cluster: run.m.Cluster.Name, State: state, Description: fmt.Sprintf(format, args...)})
}

// targetState returns the member cluster's platform Manager and drift watch, made anew
// when the registry gave the cluster a new Target (new credentials).
func (r *Reconciler) targetState(m Member) (*targetState, error) {
	key := m.Cluster.Namespace + "/" + m.Cluster.Name
	r.mu.Lock()
	defer r.mu.Unlock()
	if ts, ok := r.targets[key]; ok && ts.target == m.Target {
		return ts, nil
	}
	c, err := r.clientOf(m.Target.Config, m.Target.Mapper, "")
	if err != nil {
		return nil, err
	}
	opts := apply.DefaultOptions()
	opts.FieldOwner = gitopsv1.FieldManager
	opts.Labels = map[string]string{gitopsv1.LabelSyncName: PlatformOwner, gitopsv1.LabelSyncNamespace: r.Platform.Namespace}
	opts.Concurrency = r.Options.Concurrency
	mgr, err := apply.New(c, m.Target.Objects, m.Target.Mapper, opts)
	if err != nil {
		return nil, err
	}
	if r.targets == nil {
		r.targets = map[string]*targetState{}
	}
	ts := &targetState{target: m.Target, platform: mgr, watch: r.watch.on(m.Target.Objects)}
	r.targets[key] = ts
	return ts, nil
}

// memberOwner returns the Sync's apply Manager on a member cluster.
func (r *Reconciler) memberOwner(s *gitopsv1.Sync, key types.NamespacedName, t *Target) (*owner, error) {
	return r.ownerOf(s, key, fmt.Sprintf("%p", t), func(user string) (client.Client, error) {
		return r.clientOf(t.Config, t.Mapper, user)
	}, t.Objects, t.Mapper)
}

// pruneMember deletes what left the revision on the cluster, from the inventory kept
// beside the Sync, and saves the new inventory there when it changed.
func (r *Reconciler) pruneMember(ctx context.Context, run *memberRun, o *owner, cs *apply.ChangeSet) error {
	s := run.a.s
	previous, err := r.memberInventory(ctx, run.key, s, run.m.Cluster.Name)
	if err != nil {
		return err
	}
	inventory := apply.InventoryOf(cs)
	stale := apply.Stale(previous, inventory)
	var perr error
	if s.Spec.Prune {
		var failed apply.Inventory
		_, failed, perr = o.mgr.Prune(ctx, stale)
		inventory = append(inventory, failed...)
	} else {
		inventory = append(inventory, stale...)
	}
	run.status.Objects = int32(len(inventory))
	if err := r.saveMemberInventory(ctx, run.key, s, run.m.Cluster.Name, previous, inventory); err != nil {
		return errors.Join(perr, err)
	}
	return perr
}

// summarize writes the Sync's own conditions, history and commit status from its
// clusters', and returns when to look again.
func (r *Reconciler) summarize(ctx context.Context, a *attempt, plan RolloutPlan, runs map[string]*memberRun) time.Duration {
	s := a.s
	next := s.Spec.Interval.Duration
	soonest := func(d time.Duration) {
		if d > 0 && d < next {
			next = d
		}
	}
	soonest(plan.After)
	var applied, held, progressing int
	var failed []string
	for _, st := range s.Status.Clusters {
		if run := runs[st.Name]; run != nil {
			soonest(run.next)
		}
		switch {
		case st.Result == gitopsv1.ClusterHeld:
			held++
		case st.LastAppliedRevision == a.revision && st.Result == gitopsv1.ClusterApplied:
			applied++
		case st.Result == gitopsv1.ClusterFailed || st.Result == gitopsv1.ClusterUnreachable:
			failed = append(failed, st.Name+": "+st.Message)
		default:
			progressing++
		}
	}
	total := len(s.Status.Clusters)
	r.fleetDrift(s)
	for _, run := range runs {
		if run.res != nil && run.status.Result == gitopsv1.ClusterApplied {
			s.Status.Agents = agentSummaries(run.res)
			break
		}
	}
	counts := fmt.Sprintf("%d/%d clusters applied", applied, total)
	if held > 0 {
		counts += fmt.Sprintf(", %d held", held)
	}
	switch {
	case plan.Halted != "":
		msg := fmt.Sprintf("rollout of revision %s halted: %s", a.revision, plan.Halted)
		conditions.MarkFalse(s, gitopsv1.ReadyCondition, gitopsv1.ReasonRolloutHalted, "%s; %s", msg, counts)
		conditions.MarkStalled(s, gitopsv1.ReasonRolloutHalted, "%s", msg)
		conditions.Delete(s, gitopsv1.ReconcilingCondition)
		r.history(s, a.revision, "Failed", msg, a.started)
		r.reportRevision(ctx, a, Failure, "rollout halted: %s", plan.Halted)
		r.event(s, "Warning", gitopsv1.ReasonRolloutHalted, "rollout", "%s", msg)
		// The clusters that took the revision are still kept converged on it.
	case applied+held == total && applied > 0:
		s.Status.LastAppliedRevision = a.revision
		conditions.Delete(s, gitopsv1.ReconcilingCondition)
		conditions.Delete(s, gitopsv1.StalledCondition)
		conditions.MarkTrue(s, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "Applied revision: %s; %s", a.revision, counts)
		r.history(s, a.revision, "Applied", counts, a.started)
		r.reportRevision(ctx, a, Success, "%s", counts)
	case len(failed) > 0 && progressing == 0:
		conditions.MarkFalse(s, gitopsv1.ReadyCondition, gitopsv1.ReasonClustersFailed, "revision %s: %s; %s", a.revision, counts, strings.Join(failed, "; "))
		conditions.Delete(s, gitopsv1.ReconcilingCondition)
		conditions.Delete(s, gitopsv1.StalledCondition)
		r.history(s, a.revision, "Failed", counts, a.started)
		r.reportRevision(ctx, a, Failure, "%s; %s", counts, firstOf(failed))
	default:
		wave := ""
		if plan.Wave != "" {
			wave = fmt.Sprintf(", wave %q", plan.Wave)
		}
		msg := fmt.Sprintf("rolling out revision %s%s: %s", a.revision, wave, counts)
		if len(failed) > 0 {
			msg += "; " + strings.Join(failed, "; ")
		}
		conditions.MarkReconciling(s, gitopsv1.ReasonProgressing, "%s", msg)
		conditions.MarkUnknown(s, gitopsv1.ReadyCondition, gitopsv1.ReasonProgressing, "%s", msg)
		conditions.Delete(s, gitopsv1.StalledCondition)
		r.history(s, a.revision, "Progressing", counts, a.started)
	}
	return next
}

// firstOf is the first of some problems, saying how many more there are.
func firstOf(problems []string) string {
	if len(problems) == 0 {
		return ""
	}
	if len(problems) > 1 {
		return fmt.Sprintf("%s (and %d more)", problems[0], len(problems)-1)
	}
	return problems[0]
}

// fleetDrift writes the Drifted condition from the clusters' drift counts.
func (r *Reconciler) fleetDrift(s *gitopsv1.Sync) {
	var drifted []string
	for _, st := range s.Status.Clusters {
		if st.Drifted > 0 {
			drifted = append(drifted, fmt.Sprintf("%s: %d objects", st.Name, st.Drifted))
		}
	}
	warn := s.Spec.Drift != nil && s.Spec.Drift.Mode == gitopsv1.DriftWarn
	switch {
	case len(drifted) > 0 && warn:
		conditions.MarkTrue(s, gitopsv1.DriftedCondition, gitopsv1.ReasonDriftDetected, "objects differ from Git on %s", strings.Join(drifted, ", "))
	case len(drifted) > 0:
		conditions.MarkFalse(s, gitopsv1.DriftedCondition, gitopsv1.ReasonDriftCorrected, "corrected objects changed outside Git on %s", strings.Join(drifted, ", "))
	case conditions.IsTrue(s, gitopsv1.DriftedCondition):
		conditions.MarkFalse(s, gitopsv1.DriftedCondition, gitopsv1.ReasonNoDrift, "live objects match Git again")
	}
}

// finalizeFleet prunes, on every cluster it has objects on, what the Sync applied.
func (r *Reconciler) finalizeFleet(ctx context.Context, s *gitopsv1.Sync) error {
	if r.Members == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s.Spec.ClusterSelector)
	if err != nil {
		return nil // nothing was ever applied with it
	}
	members, err := r.Members.Members(ctx, s.Namespace, sel)
	if err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(s)
	var errs []error
	for _, m := range members {
		mk := memberKey(key, m.Cluster.Name)
		inv, err := r.memberInventory(ctx, mk, s, m.Cluster.Name)
		if err != nil || len(inv) == 0 {
			errs = append(errs, err)
			continue
		}
		if !s.Spec.Prune || m.Target == nil {
			continue // an unreachable cluster keeps its objects: the Sync is let go
		}
		o, err := r.memberOwner(s, mk, m.Target)
		if err == nil {
			_, _, err = o.mgr.Prune(ctx, inv)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", m.Cluster.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.deleteInventories(ctx, s)
}
