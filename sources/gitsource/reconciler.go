package gitsource

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/internal/predicates"
	"github.com/trustsync/trustsync/internal/redact"
	"github.com/trustsync/trustsync/sources/git"
	"github.com/trustsync/trustsync/sources/receiver"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "gitsource"

// Options tune the reconciler.
type Options struct {
	// MaxConcurrentReconciles is how many sources are fetched at once; fetches wait on
	// the network, not the CPU. Default 4.
	MaxConcurrentReconciles int
	// Interval between fetches of a source whose spec.interval is unset. Default 1m.
	Interval time.Duration
	// Timeout of a fetch whose spec.timeout is unset. Default 1m.
	Timeout time.Duration
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options {
	return Options{MaxConcurrentReconciles: 4, Interval: time.Minute, Timeout: time.Minute}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
}

// Reconciler fetches GitSources.
type Reconciler struct {
	// Client is the controller's client; its cache serves GitSources.
	Client client.Client
	// Secrets reads credentials uncached, so the controller need not cache every Secret.
	Secrets client.Reader
	Fetcher *git.Fetcher
	Store   *Store
	// Events records events; nil for none.
	Events  events.EventRecorder
	Options Options

	triggers chan event.GenericEvent
}

// Trigger asks for an immediate fetch of a source, e.g. on a verified push.
func (r *Reconciler) Trigger(_ context.Context, namespace, name string) {
	src := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	select {
	case r.triggers <- event.GenericEvent{Object: src}:
	default: // a fetch of it is queued already
	}
}

// SetupWithManager registers the GitSource controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	r.triggers = make(chan event.GenericEvent, 256)
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&gitopsv1.GitSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequested{}))).
		WatchesRawSource(source.Channel(r.triggers, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile fetches the source's revision and publishes it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &gitopsv1.GitSource{}
	if err := r.Client.Get(ctx, req.NamespacedName, src); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.remove(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if src.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	before := src.DeepCopy()
	requeue := r.fetch(ctx, src)
	src.Status.ObservedGeneration = src.Generation
	src.Status.LastHandledReconcileAt = src.GetAnnotations()[gitopsv1.AnnotationReconcileRequestedAt]
	src.Status.ReceiverPath = ""
	if src.Spec.Receiver != nil {
		src.Status.ReceiverPath = receiver.Path(src.Namespace, src.Name)
	}
	// A fetch that found the same revision writes nothing.
	return ctrlkit.FinishStatus(ctx, r.Client, src, before, requeue)
}

func (r *Reconciler) fetch(ctx context.Context, src *gitopsv1.GitSource) time.Duration {
	interval := src.Spec.Interval.Duration
	if interval <= 0 {
		interval = r.Options.Interval
	}
	auth, err := r.auth(ctx, src)
	if err != nil {
		conditions.MarkFalse(src, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "%s", redact.String(err.Error()))
		return interval
	}
	// Fetch errors are redacted already; this is the second line of defence for what
	// goes into the status and events, which every reader of the namespace sees.
	rd := auth.Redactor()
	timeout := r.Options.Timeout
	if src.Spec.Timeout != nil {
		timeout = src.Spec.Timeout.Duration
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := r.Fetcher.Fetch(fctx, git.Request{URL: src.Spec.URL, Ref: ref(src.Spec.Ref), Auth: auth})
	if err != nil {
		msg := rd.String(err.Error())
		conditions.MarkFalse(src, gitopsv1.ReadyCondition, gitopsv1.ReasonArtifactFailed, "fetch failed: %s", msg)
		if r.Events != nil {
			r.Events.Eventf(src, nil, corev1.EventTypeWarning, gitopsv1.ReasonArtifactFailed, "fetch", "fetch failed: %s", msg)
		}
		return interval
	}
	key := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
	r.Store.set(key, a)
	if st := src.Status.Artifact; st == nil || st.Revision != a.Revision || st.Digest != a.Digest {
		src.Status.Artifact = &gitopsv1.Artifact{Revision: a.Revision, Digest: a.Digest, LastUpdateTime: metav1.Now()}
		if r.Events != nil {
			r.Events.Eventf(src, nil, corev1.EventTypeNormal, "NewArtifact", "fetch", "fetched revision %s", a.Revision)
		}
	}
	conditions.MarkTrue(src, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "stored artifact for revision %s", a.Revision)
	return interval
}

// auth reads the source's credentials; tokens never leave this function except into
// the fetcher.
func (r *Reconciler) auth(ctx context.Context, src *gitopsv1.GitSource) (*git.Auth, error) {
	return Auth(ctx, r.Secrets, src)
}

// Auth reads a GitSource's credentials from its secretRef; nil without one.
func Auth(ctx context.Context, secrets client.Reader, src *gitopsv1.GitSource) (*git.Auth, error) {
	if src.Spec.SecretRef == nil {
		return nil, nil
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: src.Namespace, Name: src.Spec.SecretRef.Name}
	if err := secrets.Get(ctx, key, secret); err != nil {
		return nil, fmt.Errorf("reading the credentials Secret %s: %w", key, err)
	}
	auth, err := git.AuthFromSecret(secret.Data)
	if err != nil {
		return nil, fmt.Errorf("credentials Secret %s: %w", key, err)
	}
	return auth, nil
}

func ref(r *gitopsv1.GitRef) git.Ref {
	if r == nil {
		return git.Ref{}
	}
	return git.Ref{Branch: r.Branch, Tag: r.Tag, SemVer: r.SemVer, Commit: r.Commit}
}
