package clusters

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/ctrlkit"
	"github.com/trustsync/trustsync/internal/redact"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "cluster"

// Reconciler contacts every Cluster and writes what it found.
type Reconciler struct {
	// Client reads Clusters from the manager's cache and writes their status.
	Client client.Client
	// Secrets reads the kubeconfig Secrets, uncached: the hub does not cache every Secret.
	Secrets client.Reader
	// PlatformNamespace is the namespace of a ServiceAccount a Cluster names without one.
	PlatformNamespace string
	Options           Options
}

// Options tune the reconciler.
type Options struct {
	// Interval between contacts of a Cluster without spec.interval. Default 1m.
	Interval time.Duration
	// Retry is how soon a Cluster that did not answer is tried again. Default 15s.
	Retry time.Duration
	// Timeout bounds one contact. Default 10s.
	Timeout time.Duration
	// MaxConcurrentReconciles is how many clusters are contacted at once. Default 4.
	MaxConcurrentReconciles int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultOptions are the controller's defaults.
func DefaultOptions() Options {
	return Options{Interval: time.Minute, Retry: 15 * time.Second, Timeout: 10 * time.Second, MaxConcurrentReconciles: 4, Now: time.Now}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.Retry <= 0 {
		o.Retry = d.Retry
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = d.MaxConcurrentReconciles
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

// SetupWithManager registers the reconciler; a Cluster is contacted again on a spec
// change and after its interval.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.Options.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&gitopsv1.Cluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile contacts one Cluster.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.Options.defaults()
	c := &gitopsv1.Cluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := c.DeepCopy()
	c.Status.ObservedGeneration = c.Generation
	if c.Spec.Suspend {
		r.ready(c, metav1.ConditionFalse, gitopsv1.ReasonSuspended, "Suspended: the cluster is not contacted")
		return ctrlkit.FinishStatus(ctx, r.Client, c, before, 0)
	}
	interval := r.Options.Interval
	if c.Spec.Interval != nil && c.Spec.Interval.Duration > 0 {
		interval = c.Spec.Interval.Duration
	}
	contact, reason, err := r.contact(ctx, c)
	if err != nil {
		// Credential shapes never reach a status, whatever a server answered.
		r.ready(c, metav1.ConditionFalse, reason, redact.String(err.Error()))
		return ctrlkit.FinishStatus(ctx, r.Client, c, before, min(r.Options.Retry, interval))
	}
	now := metav1.NewTime(r.Options.Now())
	c.Status.ServerVersion, c.Status.LastContact = contact.Version, &now
	r.ready(c, metav1.ConditionTrue, gitopsv1.ReasonConnected, "Connected as "+contact.User+", Kubernetes "+contact.Version)
	return ctrlkit.FinishStatus(ctx, r.Client, c, before, interval)
}

// contact reads c's kubeconfig and probes the cluster with it; on failure it says why
// with the Ready reason.
func (r *Reconciler) contact(ctx context.Context, c *gitopsv1.Cluster) (Contact, string, error) {
	data, err := readKubeConfig(ctx, r.Secrets, c)
	if err != nil {
		return Contact{}, gitopsv1.ReasonKubeConfigMissing, err
	}
	cfg, err := connectKubeConfig(c, data, r.PlatformNamespace, r.Options.Timeout)
	if err != nil {
		return Contact{}, gitopsv1.ReasonKubeConfigInvalid, err
	}
	pctx, cancel := context.WithTimeout(ctx, r.Options.Timeout)
	defer cancel()
	contact, err := Probe(pctx, cfg)
	if err != nil {
		// A hostile server may echo what it was sent: the token is hidden in any encoding.
		secrets := append([]string{cfg.BearerToken}, redact.Key(cfg.KeyData)...)
		return Contact{}, gitopsv1.ReasonUnreachable, errors.New(redact.New(secrets...).String("the cluster did not answer at " + cfg.Host + ": " + err.Error()))
	}
	return contact, "", nil
}

func (r *Reconciler) ready(c *gitopsv1.Cluster, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: gitopsv1.ReadyCondition, Status: status, Reason: reason, Message: msg, ObservedGeneration: c.Generation})
}

// readKubeConfig reads c's kubeconfig from its Secret; an error says what is missing
// (the Ready condition's KubeConfigMissing message).
func readKubeConfig(ctx context.Context, secrets client.Reader, c *gitopsv1.Cluster) ([]byte, error) {
	name, key := c.KubeConfigSecret()
	s := &corev1.Secret{}
	if err := secrets.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errors.New("no Secret " + name + " with the cluster's kubeconfig (key " + key + ")")
		}
		return nil, err
	}
	data, ok := s.Data[key]
	if !ok {
		return nil, errors.New("the Secret " + name + " has no key " + key)
	}
	return data, nil
}

// connectKubeConfig is Connect, its error naming the Secret and key the kubeconfig came
// from (the Ready condition's KubeConfigInvalid message).
func connectKubeConfig(c *gitopsv1.Cluster, kubeconfig []byte, platformNamespace string, timeout time.Duration) (*rest.Config, error) {
	cfg, err := Connect(c, kubeconfig, platformNamespace, timeout)
	if err != nil {
		name, key := c.KubeConfigSecret()
		return nil, errors.New("Secret " + name + " key " + key + ": " + err.Error())
	}
	return cfg, nil
}
