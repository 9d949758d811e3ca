package pullrequests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"

	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/internal/predicates"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/preview/report"
)

// PullRequest is an open pull request (GitLab: merge request).
type PullRequest struct {
	Number     int
	HeadSHA    string
	BaseBranch string
}

// Host is one repository's pull requests on its Git host.
type Host interface {
	OpenPullRequests(ctx context.Context) ([]PullRequest, error)
	// Publish sets a Sync's preview status on the pull request's head commit and keeps
	// that Sync's one comment on the pull request up to date.
	Publish(ctx context.Context, sync *gitopsv1.Sync, pr PullRequest, p Publication) error
}

// Publication is what Publish posts.
type Publication struct {
	Failed      bool
	Description string
	// Comment is the Markdown report.
	Comment string
}

// Hosts opens the Host of a GitSource (its commitStatus provider and token).
type Hosts interface {
	Host(ctx context.Context, src *gitopsv1.GitSource) (Host, error)
}

// Revisions gives the trees of a GitSource's revisions: branches and commits.
type Revisions interface {
	Trees(ctx context.Context, src *gitopsv1.GitSource) (Repository, error)
}

// Repository is a source's repository: the trees of its revisions, and the commit a
// branch points at now.
type Repository interface {
	preview.Trees
	Fetch(ctx context.Context, rev string) (string, error)
}

// ControllerName names the controller in logs and metrics.
const ControllerName = "pullrequests"

// Reconciler previews the open pull requests of every GitSource with spec.preview: each
// new head commit or base commit, for every Sync of the source, with preview.Run — the code
// `trustsync preview` runs — posting one comment per Sync and a commit status on the
// head. What it previewed is in the GitSource's status.previews, so a restart does not
// post again.
type Reconciler struct {
	Client    client.Client
	Hosts     Hosts
	Revisions Revisions
	// Platform the revisions are rendered with.
	Platform *gitopsv1.Platform
	Options  Options
}

// Options tune the reconciler.
type Options struct {
	// MinInterval is the shortest time between two listings of a source's pull
	// requests, whatever its spec.interval: each is a call to the Git host's API, which
	// limits its rate. Default 1m.
	MinInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options { return Options{MinInterval: time.Minute, Now: time.Now} }

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.MinInterval <= 0 {
		o.MinInterval = d.MinInterval
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

// SetupWithManager registers the reconciler; it runs every spec.interval.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&gitopsv1.GitSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequested{}))).
		Complete(r)
}

// Reconcile previews a GitSource's open pull requests whose head or base commit is new.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &gitopsv1.GitSource{}
	if err := r.Client.Get(ctx, req.NamespacedName, src); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if src.Spec.Preview == nil || src.Spec.Suspend || !src.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	interval := max(src.Spec.Interval.Duration, r.Options.MinInterval)
	host, err := r.Hosts.Host(ctx, src)
	if err != nil {
		return ctrl.Result{}, err
	}
	prs, err := host.OpenPullRequests(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	syncs, err := r.syncsOf(ctx, src)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := src.DeepCopy()
	done := map[int]gitopsv1.PreviewStatus{}
	for _, p := range src.Status.Previews {
		done[p.Number] = p
	}
	var next []gitopsv1.PreviewStatus // closed pull requests drop out
	var repo Repository
	bases := map[string]string{} // base branch → its commit now, "" when unreadable
	for _, pr := range prs {
		if repo == nil {
			if repo, err = r.Revisions.Trees(ctx, src); err != nil {
				return ctrl.Result{}, err
			}
		}
		base, ok := bases[pr.BaseBranch]
		if !ok {
			// A base that cannot be read is previewed as such (the preview says why).
			base, _ = repo.Fetch(ctx, pr.BaseBranch)
			bases[pr.BaseBranch] = base
		}
		if prev, ok := done[pr.Number]; ok && prev.HeadSHA == pr.HeadSHA && prev.BaseSHA == base {
			next = append(next, prev)
			continue
		}
		st, err := r.previewPullRequest(ctx, host, repo, src, syncs, pr)
		if err != nil {
			// Not recorded: the next interval tries again.
			log.FromContext(ctx).Error(err, "previewing pull request", "number", pr.Number, "head", pr.HeadSHA)
			if prev, ok := done[pr.Number]; ok {
				next = append(next, prev)
			}
			continue
		}
		next = append(next, st)
	}
	slices.SortFunc(next, func(a, b gitopsv1.PreviewStatus) int { return a.Number - b.Number })
	src.Status.Previews = next
	// status.previews is this controller's; the rest of the status the GitSource's.
	if _, err := ctrlkit.MergeStatus(ctx, r.Client, src, before); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// previewPullRequest previews one head for every Sync and publishes each.
func (r *Reconciler) previewPullRequest(ctx context.Context, host Host, trees preview.Trees, src *gitopsv1.GitSource, syncs []*gitopsv1.Sync, pr PullRequest) (gitopsv1.PreviewStatus, error) {
	gate, err := report.ParseGate(src.Spec.Preview.FailOn)
	if err != nil {
		gate = report.GateCrossNamespace
	}
	st := gitopsv1.PreviewStatus{Number: pr.Number, HeadSHA: pr.HeadSHA, State: "success", PreviewedAt: metav1.NewTime(r.now())}
	var summaries []string
	for _, s := range syncs {
		rep, err := preview.Run(ctx, trees, preview.Options{
			Path: s.Spec.SourcePath(), Base: pr.BaseBranch, Head: pr.HeadSHA,
			Platform: r.Platform, Namespace: s.Spec.TargetNamespace, Gate: gate,
		})
		var p Publication
		if err == nil {
			st.BaseSHA = rep.Base.Commit // every Sync's preview has the same base
		}
		if err != nil {
			// The comparison could not be made (e.g. the base branch cannot be fetched): say so.
			p = Publication{Failed: true, Description: "preview failed: " + err.Error(),
				Comment: fmt.Sprintf("## trustsync preview of `%s`\n\n**❌ the preview could not be made**: %s\n", s.Spec.Path, err)}
		} else {
			var b strings.Builder
			if err := rep.Markdown(&b); err != nil {
				return st, err
			}
			p = Publication{Failed: rep.Failed() != "", Description: rep.Summary(), Comment: b.String()}
			if p.Failed {
				p.Description = rep.Failed()
			}
		}
		if err := host.Publish(ctx, s, pr, p); err != nil {
			return st, err
		}
		if p.Failed {
			st.State = "failure"
		}
		summaries = append(summaries, s.Name+": "+p.Description)
	}
	st.Summary = strings.Join(summaries, "; ")
	if len(st.Summary) > 1024 {
		st.Summary = st.Summary[:1021] + "…"
	}
	return st, nil
}

// syncsOf are the Syncs that apply src.
func (r *Reconciler) syncsOf(ctx context.Context, src *gitopsv1.GitSource) ([]*gitopsv1.Sync, error) {
	var list gitopsv1.SyncList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	var out []*gitopsv1.Sync
	for i := range list.Items {
		s := &list.Items[i]
		ns := s.Spec.SourceRef.Namespace
		if ns == "" {
			ns = s.Namespace
		}
		if ns == src.Namespace && s.Spec.SourceRef.Name == src.Name {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *gitopsv1.Sync) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	return out, nil
}

func (r *Reconciler) now() time.Time {
	if r.Options.Now != nil {
		return r.Options.Now()
	}
	return time.Now()
}
