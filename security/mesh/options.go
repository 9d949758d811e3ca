package mesh

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Names of the shared-trust objects (kagenti-facts §7).
const (
	RootNamespace  = "cert-manager"
	RootSecretName = "istio-mesh-root-ca-secret"

	IstioNamespace                = "istio-system"
	DefaultIntermediateSecretName = "istio-cacerts-default-cert"
	GatewayNamespace              = "openshift-ingress"
	GatewayIntermediateSecretName = "istio-cacerts-og-cert"

	CACertsSecretName   = "cacerts"
	RootConfigMapName   = "istio-ca-root-cert"
	ZtunnelNamespace    = "istio-ztunnel"
	AnnotationRestarted = "kubectl.kubernetes.io/restartedAt"

	// AnnotationRolloutPending on cacerts says its content was written but the mesh not
	// yet restarted onto it; it survives a crash between the two steps.
	AnnotationRolloutPending = "mesh.trustsync.dev/rollout-pending"

	// FieldOwner is the server-side apply owner of cacerts.
	FieldOwner = "trustsync-mesh"

	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "trustsync"
)

// Kinds of workload a Workload may name.
const (
	KindDeployment = "Deployment"
	KindDaemonSet  = "DaemonSet"
)

// Workload is a Deployment or DaemonSet rolled when a cacerts Secret changes.
type Workload struct {
	Kind string
	// Namespace of the workload; empty: wherever one of this kind and name exists.
	Namespace string
	Name      string
}

func (w Workload) String() string {
	ns := w.Namespace
	if ns == "" {
		ns = "*"
	}
	return w.Kind + " " + ns + "/" + w.Name
}

// Intermediate is an intermediate CA Secret cert-manager issues from the mesh root, with
// what depends on the cacerts Secret built from it (in the same namespace).
type Intermediate struct {
	Secret types.NamespacedName
	// Restart are rolled when the cacerts content changes: istiod reads cacerts only at
	// start, and ztunnel holds certificates of the old chain until it restarts.
	Restart []Workload
	// RootConfigMapNamespaces are where a stale istio-ca-root-cert ConfigMap (one whose
	// root-cert.pem is not the new root) is deleted after a change, so that istiod
	// publishes the new root.
	RootConfigMapNamespaces []string
}

// Options configure the Reconciler.
type Options struct {
	// Root is the mesh root CA Secret (tls.crt is the trust anchor).
	Root types.NamespacedName
	// Intermediates are turned into cacerts Secrets. One whose namespace does not exist
	// is skipped (e.g. openshift-ingress outside OpenShift).
	Intermediates []Intermediate
	// CACertsName names the Secret written beside each intermediate.
	CACertsName string
	// KeepMismatched leaves an intermediate whose ca.crt is not the root in place. By
	// default it is deleted, as Kagenti does, so that cert-manager issues it again from
	// the current root: cert-manager does not re-issue when only the issuer's CA changed.
	KeepMismatched bool
	// RetryInterval is how long to wait before looking again when a Secret is missing
	// or does not verify (watches bring changes sooner).
	RetryInterval time.Duration
	// Now is the clock for certificate validity and restartedAt.
	Now func() time.Time
}

// DefaultOptions are Kagenti's names: root istio-mesh-root-ca-secret in cert-manager;
// istio-cacerts-default-cert in istio-system rolling Deployment istiod and DaemonSet
// ztunnel (istio-ztunnel); istio-cacerts-og-cert in openshift-ingress rolling Deployment
// istiod-openshift-gateway.
func DefaultOptions() Options {
	return Options{
		Root: types.NamespacedName{Namespace: RootNamespace, Name: RootSecretName},
		Intermediates: []Intermediate{
			{
				Secret: types.NamespacedName{Namespace: IstioNamespace, Name: DefaultIntermediateSecretName},
				Restart: []Workload{
					{Kind: KindDeployment, Namespace: IstioNamespace, Name: "istiod"},
					{Kind: KindDaemonSet, Namespace: ZtunnelNamespace, Name: "ztunnel"},
				},
				// Both families' platform namespaces: a missing one is skipped.
				RootConfigMapNamespaces: []string{agentv1.Kagenti.Namespace, agentv1.Rossoctl.Namespace, "gateway-system", "keycloak", "mcp-system", IstioNamespace, ZtunnelNamespace},
			},
			{
				Secret:  types.NamespacedName{Namespace: GatewayNamespace, Name: GatewayIntermediateSecretName},
				Restart: []Workload{{Kind: KindDeployment, Namespace: GatewayNamespace, Name: "istiod-openshift-gateway"}},
			},
		},
		CACertsName:   CACertsSecretName,
		RetryInterval: 2 * time.Minute,
		Now:           time.Now,
	}
}

// defaults fills what is unset; nil Intermediates get the defaults, an empty non-nil
// list stays empty.
func (o *Options) defaults() {
	d := DefaultOptions()
	if o.Root == (types.NamespacedName{}) {
		o.Root = d.Root
	}
	if o.Intermediates == nil {
		o.Intermediates = d.Intermediates
	}
	if o.CACertsName == "" {
		o.CACertsName = d.CACertsName
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = d.RetryInterval
	}
	if o.Now == nil {
		o.Now = d.Now
	}
}

// validate reports every problem at once.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mesh: Options.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	name := func(field, ns, n string) {
		for _, p := range validation.IsDNS1123Label(ns) {
			bad(field+".Namespace", "%q: %s", ns, p)
		}
		for _, p := range validation.IsDNS1123Subdomain(n) {
			bad(field+".Name", "%q: %s", n, p)
		}
	}
	name("Root", o.Root.Namespace, o.Root.Name)
	for _, p := range validation.IsDNS1123Subdomain(o.CACertsName) {
		bad("CACertsName", "%q: %s", o.CACertsName, p)
	}
	seen := map[string]bool{}
	for i, in := range o.Intermediates {
		f := fmt.Sprintf("Intermediates[%d]", i)
		name(f+".Secret", in.Secret.Namespace, in.Secret.Name)
		if in.Secret == o.Root {
			bad(f+".Secret", "%s is the root", in.Secret)
		}
		if in.Secret.Name == o.CACertsName {
			bad(f+".Secret", "%s would be overwritten by the cacerts Secret", in.Secret)
		}
		// One cacerts per namespace: two intermediates there would fight over it.
		if seen[in.Secret.Namespace] {
			bad(f+".Secret", "a second intermediate in namespace %s", in.Secret.Namespace)
		}
		seen[in.Secret.Namespace] = true
		for j, w := range in.Restart {
			wf := fmt.Sprintf("%s.Restart[%d]", f, j)
			if w.Kind != KindDeployment && w.Kind != KindDaemonSet {
				bad(wf+".Kind", "%q, want %s or %s", w.Kind, KindDeployment, KindDaemonSet)
			}
			if w.Namespace != "" {
				for _, p := range validation.IsDNS1123Label(w.Namespace) {
					bad(wf+".Namespace", "%q: %s", w.Namespace, p)
				}
			}
			for _, p := range validation.IsDNS1123Subdomain(w.Name) {
				bad(wf+".Name", "%q: %s", w.Name, p)
			}
		}
		for j, ns := range in.RootConfigMapNamespaces {
			for _, p := range validation.IsDNS1123Label(ns) {
				bad(fmt.Sprintf("%s.RootConfigMapNamespaces[%d]", f, j), "%q: %s", ns, p)
			}
		}
	}
	if o.RetryInterval < 0 {
		bad("RetryInterval", "%s is negative", o.RetryInterval)
	}
	return errors.Join(errs...)
}
