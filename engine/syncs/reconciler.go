package syncs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
	"github.com/trustsync/trustsync/engine/health"
	"github.com/trustsync/trustsync/engine/metrics"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

// Options tune the reconciler.
type Options struct {
	// Concurrency of each Sync's requests.
	Concurrency int
	// HealthInterval between health checks while objects roll out.
	HealthInterval time.Duration
	// MaxConcurrentReconciles of Syncs.
	MaxConcurrentReconciles int
	// ReportRetryInterval is how soon a Sync whose commit status could not be posted
	// (the Git host down) tries again, when its own schedule is later.
	ReportRetryInterval time.Duration
}

// ControllerName names the controller in logs and metrics.
const ControllerName = "sync"

// Reconciler reconciles Syncs.
type Reconciler struct {
	// Client is the controller's own client (its cache serves Syncs and GitSources).
	Client client.Client
	// Objects is the informer cache of the objects Syncs applied (package objcache).
	Objects cache.Cache
	// PlatformObjects caches the platform objects (owner PlatformOwner); Objects when
	// nil. A controller shard needs its own: they carry no shard label.
	PlatformObjects cache.Cache
	// Config is the base of the per-Sync clients, impersonated when a Sync names a
	// ServiceAccount.
	Config *rest.Config
	// Mapper maps kinds to resources.
	Mapper meta.RESTMapper
	// Artifacts gives the sources' latest revisions.
	Artifacts Artifacts
	// Reporter posts commit statuses; nil for none.
	Reporter Reporter
	// Events records events; nil for none.
	Events events.EventRecorder
	// Metrics; nil for none.
	Metrics *metrics.Recorder
	// Requests counts the API requests of every Sync's client; nil for none.
	Requests *metrics.RequestCounter
	// Platform configuration the revisions are rendered with.
	Platform *gitopsv1.Platform
	// Members finds the Clusters of a Sync with a clusterSelector; nil: such Syncs fail.
	Members Members
	// Rollout plans the waves of fleet Syncs; nil: every cluster at once.
	Rollout RolloutPlanner
	// APIReader reads the fleet inventories' ConfigMaps, uncached (the hub does not
	// cache every ConfigMap).
	APIReader client.Reader
	Options   Options

	mu       sync.Mutex
	owners   map[types.NamespacedName]*owner
	reported map[types.NamespacedName]string // last report per Sync: commit + state + description
	// failedReports are the Syncs whose last report the Git host refused.
	failedReports map[types.NamespacedName]bool
	changedAt     map[types.NamespacedName]time.Time // when each Sync last wrote objects
	// unanswered counts each Sync's attempts in a row the API server did not answer.
	unanswered map[types.NamespacedName]int
	renders    renderCache
	// inventories are the fleet Syncs' inventories per member cluster (memberKey), as
	// last saved in their ConfigMaps.
	inventories map[types.NamespacedName]apply.Inventory
	// targets are the member clusters' platform apply Managers and drift watches.
	targets map[string]*targetState // by Cluster <namespace>/<name>
	watch   *driftWatch
	sources chan event.GenericEvent

	platformMu sync.Mutex
	platform   *apply.Manager // applies the platform objects for all Syncs
}

// owner is one Sync's apply Manager and the settings it was made with.
type owner struct {
	settings string
	target   string // the member cluster's Target, "" for this cluster
	mgr      *apply.Manager
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options {
	return Options{Concurrency: 8, HealthInterval: 2 * time.Second, MaxConcurrentReconciles: 4, ReportRetryInterval: 30 * time.Second}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = d.HealthInterval
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
	if o.ReportRetryInterval <= 0 {
		o.ReportRetryInterval = d.ReportRetryInterval
	}
}

// Reconcile brings one Sync's objects to the revision of its source.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := time.Now()
	s := &gitopsv1.Sync{}
	if err := r.Client.Get(ctx, req.NamespacedName, s); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !s.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(s, gitopsv1.Finalizer) {
		patch := client.MergeFrom(s.DeepCopy())
		controllerutil.AddFinalizer(s, gitopsv1.Finalizer)
		if err := r.Client.Patch(ctx, s, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	if s.Spec.Suspend {
		log.FromContext(ctx).V(1).Info("suspended")
		return ctrl.Result{}, nil
	}

	before := s.DeepCopy()
	requeue := r.reconcile(ctx, s)
	if r.unreported(req.NamespacedName) && (requeue == 0 || requeue > r.Options.ReportRetryInterval) {
		// The Git host refused the last status: it is posted again, not lost.
		requeue = r.Options.ReportRetryInterval
	}
	s.Status.ObservedGeneration = s.Generation
	s.Status.LastHandledReconcileAt = s.GetAnnotations()[gitopsv1.AnnotationReconcileRequestedAt]
	r.Metrics.ReconcileDuration(gitopsv1.SyncKind, s.Namespace, s.Name, time.Since(start))
	// A no-op reconcile writes nothing; a conflict is a Sync read before the last write.
	return ctrlkit.FinishStatus(ctx, r.Client, s, before, requeue)
}

// reconcile does the work and writes its outcome into the Sync's status; it returns
// when to look again (0: only when something changes).
func (r *Reconciler) reconcile(ctx context.Context, s *gitopsv1.Sync) time.Duration {
	a := newAttempt(s)
	err := r.findRevision(ctx, a)
	if errors.Is(err, errNoArtifactYet) && conditions.IsReady(s) {
		// Just started, the source not fetched yet in this process: what was applied
		// still holds, so nothing is reported; its first artifact wakes this Sync
		// (SourceUpdated), the retry is a backstop.
		log.FromContext(ctx).V(1).Info("waiting for the source's first artifact since the start")
		return a.retry
	}
	if err != nil {
		conditions.MarkFalse(s, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "%s", err.Error())
		conditions.Delete(s, gitopsv1.ReconcilingCondition)
		conditions.Delete(s, gitopsv1.StalledCondition)
		return a.retry
	}
	r.reportPending(ctx, a)
	if s.Spec.ClusterSelector != nil {
		return r.reconcileFleet(ctx, a)
	}

	res, err := r.renders.render(a.key, a.key, a.art, s.Spec.SourcePath(), s.Spec.TargetNamespace, r.Platform, "")
	if errors.Is(err, errArtifactGone) {
		conditions.MarkFalse(s, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "%s", err.Error())
		conditions.Delete(s, gitopsv1.StalledCondition)
		return a.retry
	}
	if err != nil {
		return r.fail(ctx, a, renderFailure(err))
	}

	o, cs, f := r.applyObjects(ctx, a, res.Objects)
	if f != nil {
		return r.fail(ctx, a, f)
	}
	if f := r.pruneStale(ctx, a, o, cs); f != nil {
		return r.fail(ctx, a, f)
	}

	drifted := r.driftReport(s, cs)
	if s.Spec.Wait {
		hr, f := r.checkHealth(ctx, a, cs)
		if f != nil {
			return r.fail(ctx, a, f)
		}
		if !hr.Healthy() {
			r.markProgressing(a, hr)
			return r.Options.HealthInterval
		}
	}

	r.markApplied(ctx, a, res, cs, drifted)
	return s.Spec.Interval.Duration
}

// errNoArtifactYet: the source has published no artifact since this process started.
var errNoArtifactYet = errors.New("no artifact yet")

// attempt is one reconcile of a Sync: what its phases share.
type attempt struct {
	s        *gitopsv1.Sync
	key      types.NamespacedName
	started  metav1.Time
	retry    time.Duration // how soon a failure is retried
	src      *gitopsv1.GitSource
	art      *Artifact
	revision string
}

func newAttempt(s *gitopsv1.Sync) *attempt {
	return &attempt{s: s, key: client.ObjectKeyFromObject(s), started: metav1.Now(), retry: s.Spec.RetryAfterFailure()}
}

// findRevision looks up the Sync's source and its latest artifact, the revision the
// attempt is for.
func (r *Reconciler) findRevision(ctx context.Context, a *attempt) error {
	src, art, err := r.source(ctx, a.s)
	if err != nil {
		return err
	}
	a.src, a.art, a.revision = src, art, art.Revision
	a.s.Status.LastAttemptedRevision = a.revision
	return nil
}

// reportPending posts pending on a commit the first time it is attempted, unless its
// revision is applied and ready already.
func (r *Reconciler) reportPending(ctx context.Context, a *attempt) {
	settled := a.revision == a.s.Status.LastAppliedRevision && conditions.IsReady(a.s)
	if r.newCommit(a.key, a.art.Commit) && !settled {
		r.reportRevision(ctx, a, Pending, "applying revision %s", shortRevision(a.revision))
	}
}

// reportRevision posts the commit status of the attempted revision.
func (r *Reconciler) reportRevision(ctx context.Context, a *attempt, state State, format string, args ...any) {
	r.report(ctx, a.key, a.s, a.src, a.art.Commit, Report{State: state, Description: fmt.Sprintf(format, args...)})
}

// failure is how a phase of an attempt failed.
type failure struct {
	reason  string // of the Ready condition and the event
	kind    string // what failed: "render", "apply", ...
	err     error
	stalled bool // retrying cannot help: only a new revision or a spec change can
}

// fail writes a failed phase into the status, the history, the commit status and an
// event; it returns when to retry.
func (r *Reconciler) fail(ctx context.Context, a *attempt, f *failure) time.Duration {
	s := a.s
	retry := a.retry
	msg := fmt.Sprintf("%s of revision %s failed: %s", f.kind, a.revision, oneLine(f.err))
	short := fmt.Sprintf("%s failed: %s", f.kind, firstProblem(f.err))
	switch {
	case !f.stalled && ctrlkit.Unavailable(f.err):
		retry = r.retryUnavailable(a.key, a.retry)
		// Every object fails alike then: the first one says it.
		msg = fmt.Sprintf("%s of revision %s failed, the API server did not answer; retrying in %s: %s", f.kind, a.revision, retry, firstProblem(f.err))
		short = fmt.Sprintf("%s failed, the API server did not answer (retrying): %s", f.kind, firstProblem(f.err))
	case f.reason == gitopsv1.ReasonImpersonationDenied:
		msg = fmt.Sprintf("%s of revision %s failed: %s may not apply it: %s", f.kind, a.revision, applier(s), oneLine(f.err))
		fallthrough
	default:
		r.answered(a.key)
	}
	conditions.MarkFalse(s, gitopsv1.ReadyCondition, f.reason, "%s", msg)
	conditions.Delete(s, gitopsv1.ReconcilingCondition)
	if f.stalled {
		conditions.MarkStalled(s, f.reason, "%s", msg)
	} else {
		conditions.Delete(s, gitopsv1.StalledCondition)
	}
	r.history(s, a.revision, "Failed", msg, a.started)
	r.reportRevision(ctx, a, Failure, "%s", short)
	r.event(s, "Warning", f.reason, f.kind, "%s", msg)
	if f.stalled {
		return 0 // a new revision or a spec change brings the next reconcile
	}
	return retry
}

// renderFailure stalls the Sync: the same revision renders the same way again.
func renderFailure(err error) *failure {
	reason := gitopsv1.ReasonBuildFailed
	var me *manifest.Error
	if errors.As(err, &me) {
		reason = gitopsv1.ReasonValidationFailed
	}
	return &failure{reason: reason, kind: "render", err: err, stalled: true}
}

// applyObjects applies the platform objects, then the Sync's own, and watches what it
// applied for drift.
func (r *Reconciler) applyObjects(ctx context.Context, a *attempt, objs []*manifest.Object) (*owner, *apply.ChangeSet, *failure) {
	o, err := r.owner(a.s)
	if err != nil {
		return nil, nil, &failure{reason: gitopsv1.ReasonValidationFailed, kind: "configuration", err: err, stalled: true}
	}
	platform, own := splitPlatform(objs)
	if err := r.applyPlatform(ctx, platform); err != nil {
		return nil, nil, &failure{reason: gitopsv1.ReasonApplyFailed, kind: "apply of the platform objects", err: err}
	}
	cs, err := o.mgr.Apply(ctx, own)
	if err != nil {
		return nil, nil, &failure{reason: applyFailureReason(a.s, err), kind: "apply", err: err}
	}
	if cs.Count(apply.Created)+cs.Count(apply.Configured) > 0 {
		r.changed(a.key)
	}
	r.watch.ensure(ctx, cs)
	return o, cs, nil
}

// applyFailureReason names the stage of the apply that failed, or the ServiceAccount's
// denial.
func applyFailureReason(s *gitopsv1.Sync, err error) string {
	reason := gitopsv1.ReasonApplyFailed
	var se *apply.StageError
	if errors.As(err, &se) {
		switch se.Stage {
		case apply.StagePlan:
			reason = gitopsv1.ReasonValidationFailed
		case apply.StageDryRun:
			reason = gitopsv1.ReasonDryRunFailed
		}
	}
	if s.Spec.ServiceAccountName != "" && isForbidden(err) {
		reason = gitopsv1.ReasonImpersonationDenied
	}
	return reason
}

// pruneStale deletes, when the Sync prunes, the objects of the previous inventory the
// revision no longer has, and writes the new inventory and the change counts.
func (r *Reconciler) pruneStale(ctx context.Context, a *attempt, o *owner, cs *apply.ChangeSet) *failure {
	s := a.s
	inventory := apply.InventoryOf(cs)
	var previous apply.Inventory
	if s.Status.Inventory != nil {
		previous = s.Status.Inventory.Entries
	}
	pruned := &apply.ChangeSet{}
	if s.Spec.Prune {
		var failed apply.Inventory
		var perr error
		pruned, failed, perr = o.mgr.Prune(ctx, apply.Stale(previous, inventory))
		inventory = append(inventory, failed...)
		if perr != nil {
			s.Status.Inventory = &gitopsv1.Inventory{Entries: inventory}
			return &failure{reason: gitopsv1.ReasonPruneFailed, kind: "prune", err: perr}
		}
	} else {
		// Without prune the objects stay trustsync's: keep them in the inventory.
		inventory = append(inventory, apply.Stale(previous, inventory)...)
	}
	s.Status.Inventory = &gitopsv1.Inventory{Entries: inventory}
	r.recordChanges(s, cs, pruned)
	return nil
}

// checkHealth checks the applied objects; an object that failed, or a rollout that
// outlasts the Sync's timeout, fails the check.
func (r *Reconciler) checkHealth(ctx context.Context, a *attempt, cs *apply.ChangeSet) (*health.Report, *failure) {
	hr, err := r.healthOf(ctx, r.Objects, cs, a.s, r.lastChange(a.key, r.appliedAt(a.s, a.revision, a.started)))
	if err != nil {
		return nil, &failure{reason: gitopsv1.ReasonHealthCheckFailed, kind: "health check", err: err}
	}
	return hr, nil
}

// healthOf checks a change set's objects in the cache of their cluster; an object that
// failed, or a rollout going on for longer than the Sync's timeout since rolling,
// is an error.
func (r *Reconciler) healthOf(ctx context.Context, objects client.Reader, cs *apply.ChangeSet, s *gitopsv1.Sync, rolling time.Time) (*health.Report, error) {
	objs := make([]health.Object, 0, len(cs.Changes))
	for _, c := range cs.Changes {
		objs = append(objs, health.Object{Ref: c.Object, Version: c.Version})
	}
	hr, err := health.Check(ctx, objects, objs)
	if err != nil {
		return nil, err
	}
	if !hr.Healthy() && (hr.Failed() || time.Since(rolling) > timeoutOf(s)) {
		return nil, errors.New(hr.Summary(3))
	}
	return hr, nil
}

// timeoutOf is the Sync's health timeout.
func timeoutOf(s *gitopsv1.Sync) time.Duration {
	if s.Spec.Timeout != nil {
		return s.Spec.Timeout.Duration
	}
	return 5 * time.Minute
}

func (r *Reconciler) markProgressing(a *attempt, hr *health.Report) {
	conditions.MarkReconciling(a.s, gitopsv1.ReasonProgressing, "waiting for %s", hr.Summary(3))
	conditions.MarkUnknown(a.s, gitopsv1.ReadyCondition, gitopsv1.ReasonProgressing, "revision %s applied; waiting for %s", a.revision, hr.Summary(3))
	r.history(a.s, a.revision, "Progressing", "waiting for rollout", a.started)
}

// markApplied writes the applied revision and its agents into the status, the history
// and the commit status: a failure there when warn-mode drift remains.
func (r *Reconciler) markApplied(ctx context.Context, a *attempt, res *renderers.Result, cs *apply.ChangeSet, drifted int) {
	s := a.s
	r.answered(a.key)
	s.Status.LastAppliedRevision = a.revision
	s.Status.Agents = agentSummaries(res)
	agents := r.agentStatus(ctx, s.Status.Agents)
	conditions.Delete(s, gitopsv1.ReconcilingCondition)
	conditions.Delete(s, gitopsv1.StalledCondition)
	conditions.MarkTrue(s, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "Applied revision: %s%s", a.revision, agents.suffix())
	summary := fmt.Sprintf("applied %d objects, %d drifted", len(cs.Changes), drifted)
	r.history(s, a.revision, "Applied", summary, a.started)
	if drifted > 0 && s.Spec.Drift != nil && s.Spec.Drift.Mode == gitopsv1.DriftWarn {
		r.reportRevision(ctx, a, Failure, "%d objects drifted: %s", drifted, driftSummary(cs))
	} else {
		r.reportRevision(ctx, a, agents.state(), "%s%s", summary, agents.suffix())
	}
}

// changed notes that a Sync's objects were just written: a rollout starts, and the
// health timeout counts from here.
func (r *Reconciler) changed(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changedAt == nil {
		r.changedAt = map[types.NamespacedName]time.Time{}
	}
	r.changedAt[key] = time.Now()
}

// lastChange is when the Sync's objects were last written, or since when none was
// recorded in this process.
func (r *Reconciler) lastChange(key types.NamespacedName, since time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.changedAt[key]; ok && t.After(since) {
		return t
	}
	return since
}

// source finds the Sync's GitSource and its latest artifact.
func (r *Reconciler) source(ctx context.Context, s *gitopsv1.Sync) (*gitopsv1.GitSource, *Artifact, error) {
	ns := s.Spec.SourceRef.Namespace
	if ns == "" {
		ns = s.Namespace
	}
	key := types.NamespacedName{Namespace: ns, Name: s.Spec.SourceRef.Name}
	src := &gitopsv1.GitSource{}
	if err := r.Client.Get(ctx, key, src); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("GitSource %s not found", key)
		}
		return nil, nil, fmt.Errorf("reading GitSource %s: %w", key, err)
	}
	art, ok := r.Artifacts.Latest(key)
	if !ok {
		return src, nil, fmt.Errorf("GitSource %s has %w", key, errNoArtifactYet)
	}
	return src, art, nil
}

// owner returns the Sync's apply Manager, reconfigured when settings that shape it
// changed; what it remembers of the cluster survives the change.
func (r *Reconciler) owner(s *gitopsv1.Sync) (*owner, error) {
	return r.ownerOf(s, client.ObjectKeyFromObject(s), "", func(user string) (client.Client, error) {
		return r.clientOf(r.Config, r.Mapper, user)
	}, r.Objects, r.Mapper)
}

// ownerOf returns the apply Manager of key (a Sync, or a Sync on a member cluster) on
// the cluster that target names ("" for this one) and objects and mapper serve. A new
// target gets a new Manager: what it remembered was of another cluster, or of another
// cache of it.
func (r *Reconciler) ownerOf(s *gitopsv1.Sync, key types.NamespacedName, target string, newClient func(user string) (client.Client, error), objects client.Reader, mapper meta.RESTMapper) (*owner, error) {
	drift := gitopsv1.DriftSpec{Mode: gitopsv1.DriftCorrect}
	if s.Spec.Drift != nil {
		drift = *s.Spec.Drift
	}
	shard := s.Labels[gitopsv1.LabelShardKey]
	settings := fmt.Sprintf("%s|%v|%t|%s", s.Spec.ServiceAccountName, drift, s.Spec.PruneNamespacesAndCRDs, shard)
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.owners[key]
	if ok && o.target != target {
		ok = false
	}
	if ok && o.settings == settings {
		return o, nil
	}
	user := ""
	if s.Spec.ServiceAccountName != "" {
		// A tenant applies no more than its account may.
		user = "system:serviceaccount:" + s.Namespace + ":" + s.Spec.ServiceAccountName
	}
	c, err := newClient(user)
	if err != nil {
		return nil, err
	}
	opts := apply.DefaultOptions()
	opts.FieldOwner = gitopsv1.FieldManager
	opts.Labels = map[string]string{gitopsv1.LabelSyncName: s.Name, gitopsv1.LabelSyncNamespace: s.Namespace}
	if shard != "" {
		// The shard's object cache selects by it.
		opts.Labels[gitopsv1.LabelShardKey] = shard
	}
	opts.Concurrency = r.Options.Concurrency
	opts.DriftMode = drift.Mode
	opts.Ignore = drift.Ignore
	opts.PruneNamespacesAndCRDs = s.Spec.PruneNamespacesAndCRDs
	if ok {
		if err := o.mgr.Reconfigure(c, opts); err != nil {
			return nil, err
		}
		o.settings = settings
		return o, nil
	}
	mgr, err := apply.New(c, objects, mapper, opts)
	if err != nil {
		return nil, err
	}
	o = &owner{settings: settings, target: target, mgr: mgr}
	if r.owners == nil {
		r.owners = map[types.NamespacedName]*owner{}
	}
	r.owners[key] = o
	return o, nil
}

// clientOf makes a client of the cluster cfg reaches whose requests are counted,
// impersonating user when set.
func (r *Reconciler) clientOf(cfg *rest.Config, mapper meta.RESTMapper, user string) (client.Client, error) {
	cfg = rest.CopyConfig(cfg)
	if user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	if r.Requests != nil {
		wrap := cfg.WrapTransport
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if wrap != nil {
				rt = wrap(rt)
			}
			return r.Requests.Wrap(rt)
		}
	}
	return client.New(cfg, client.Options{Scheme: r.Client.Scheme(), Mapper: mapper})
}

func applier(s *gitopsv1.Sync) string {
	return "ServiceAccount " + s.Namespace + "/" + s.Spec.ServiceAccountName
}

func isForbidden(err error) bool {
	for _, e := range manifest.Errors(err) {
		if apierrors.IsForbidden(e) {
			return true
		}
	}
	return false
}

// finalize prunes what the Sync applied, when it prunes, and lets it go.
func (r *Reconciler) finalize(ctx context.Context, s *gitopsv1.Sync) (ctrl.Result, error) {
	if s.Spec.ClusterSelector != nil && !s.Spec.Suspend {
		if err := r.finalizeFleet(ctx, s); err != nil {
			r.event(s, "Warning", gitopsv1.ReasonPruneFailed, "finalize", "pruning on the member clusters failed: %s", oneLine(err))
			return ctrl.Result{}, err
		}
	}
	if s.Spec.Prune && !s.Spec.Suspend && s.Status.Inventory != nil {
		o, err := r.owner(s)
		if err != nil {
			return ctrl.Result{}, err
		}
		if _, failed, err := o.mgr.Prune(ctx, s.Status.Inventory.Entries); err != nil {
			r.event(s, "Warning", gitopsv1.ReasonPruneFailed, "finalize", "pruning %d objects failed: %s", len(failed), oneLine(err))
			return ctrl.Result{}, err
		}
	}
	patch := client.MergeFrom(s.DeepCopy())
	controllerutil.RemoveFinalizer(s, gitopsv1.Finalizer)
	if err := r.Client.Patch(ctx, s, patch); err != nil {
		return ctrl.Result{}, err
	}
	r.forget(client.ObjectKeyFromObject(s))
	return ctrl.Result{}, nil
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	forgetKeys(r.owners, key)
	forgetKeys(r.reported, key)
	forgetKeys(r.failedReports, key)
	forgetKeys(r.changedAt, key)
	forgetKeys(r.unanswered, key)
	forgetKeys(r.inventories, key)
	r.mu.Unlock()
	r.renders.forget(key)
	r.Metrics.Forget(key.Namespace, key.Name)
}

// report posts on the commit unless it would say nothing new: the same report as last
// time, or a success after a success on the same commit (later reconciles of a good
// revision do not post again). A Git host that cannot be reached never fails the
// reconcile; it is logged and shown as an event.
//
// key is the Sync's, or one of its member clusters' (memberKey): each posts on its own.
func (r *Reconciler) report(ctx context.Context, key types.NamespacedName, s *gitopsv1.Sync, src *gitopsv1.GitSource, commit string, rep Report) {
	if r.Reporter == nil || src.Spec.CommitStatus == nil {
		return
	}
	fingerprint := commit + "\x00" + string(rep.State) + "\x00" + rep.Description
	r.mu.Lock()
	last := r.reported[key]
	r.mu.Unlock()
	if last == fingerprint || (rep.State == Success && strings.HasPrefix(last, commit+"\x00"+string(Success)+"\x00") && agentsOfDescription(last) == agentsOfDescription(fingerprint)) {
		return
	}
	if err := r.Reporter.Report(ctx, s, src, commit, rep); err != nil {
		log.FromContext(ctx).Error(err, "posting the commit status")
		r.event(s, "Warning", "CommitStatusFailed", "report", "posting the commit status failed: %s", oneLine(err))
		r.mu.Lock()
		if r.failedReports == nil {
			r.failedReports = map[types.NamespacedName]bool{}
		}
		r.failedReports[key] = true
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName]string{}
	}
	r.reported[key] = fingerprint
	delete(r.failedReports, key)
	r.mu.Unlock()
}

// unreported says whether the Sync's last commit status could not be posted.
func (r *Reconciler) unreported(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failedReports[key]
}

// newCommit reports whether the commit differs from the one the Sync last reported on:
// pending is posted once per commit, so retries of a failing revision do not flap
// between pending and failure on the Git host.
func (r *Reconciler) newCommit(key types.NamespacedName, commit string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.reported[key]
	return !ok || !strings.HasPrefix(last, commit+"\x00")
}

func (r *Reconciler) event(s *gitopsv1.Sync, eventtype, reason, action, format string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(s, nil, eventtype, reason, action, format, args...)
	}
}

// oneLine joins an error's problems with "; ".
func oneLine(err error) string {
	var parts []string
	for _, e := range manifest.Errors(err) {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// firstProblem is the first of an error's problems, for the short commit status.
func firstProblem(err error) string {
	var problems []string
	for _, e := range manifest.Errors(err) {
		problems = append(problems, e.Error())
	}
	return firstOf(problems)
}

// shortRevision abbreviates main@sha1:<40 hex> to main@sha1:<12 hex>.
func shortRevision(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 && len(rev)-i-1 > 12 {
		return rev[:i+13]
	}
	return rev
}
