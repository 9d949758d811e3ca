package install

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentcard"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/webhook/certs"
)

// Status is a check's outcome. Only Fail makes `trustsync check` exit non-zero: Warn is
// a part of the security profile trustsync runs without, at a cost the detail names.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check: what it looked at, what it found and, unless it passed, the fix.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == Fail })
}

// Cluster is what checks read: the API through a client, the server's version, and
// HTTP to services through the API server's proxy (Keycloak inside the cluster).
type Cluster struct {
	Client client.Client
	// Version is the API server's version (discovery's ServerVersion).
	Version func() (*version.Info, error)
	// ServiceProxy GETs path of a Service's port through the API server; nil when the
	// cluster's services cannot be reached.
	ServiceProxy func(ctx context.Context, namespace, scheme, name, port, path string) ([]byte, error)
}

// CheckOptions choose the checks. A zero field takes its default.
type CheckOptions struct {
	// Pre checks that the cluster can take the installation; otherwise the installation
	// itself is checked as well.
	Pre bool
	// Install is what is, or is to be, installed.
	Install Options
	// Platform is trustsync's platform file; the installed one (ConfigMap
	// trustsync-platform) when nil, else the defaults.
	Platform *gitopsv1.Platform
	// HTTP reaches Keycloak when it is outside the cluster; 5s timeout by default.
	HTTP *http.Client
	// Now is the clock certificates are checked against; time.Now by default.
	Now func() time.Time
}

// MinKubernetes is the oldest Kubernetes trustsync supports: native sidecar containers
// (the AuthBridge sidecar) and CEL validation rules in CRDs are on by default from it.
var MinKubernetes = [2]int{1, 29}

// checkTimeout bounds each API read and probe, so a check never hangs on a cluster
// that does not answer.
const checkTimeout = 10 * time.Second

// Check runs the checks o chooses against cl, in order, each independent of the others'
// outcome, so one run lists every problem.
func Check(ctx context.Context, cl Cluster, o CheckOptions) ([]Result, error) {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	objs, err := Manifests(o.Install)
	if err != nil {
		return nil, err
	}
	k := &checker{cl: cl, o: o, objs: objs}
	k.platform(ctx)
	checks := []func(context.Context) Result{k.kubernetesVersion}
	if o.Pre {
		checks = append(checks, k.installRBAC)
	}
	if o.Install.CertManager {
		checks = append(checks, k.certManager)
	}
	checks = append(checks, k.spireCSIDriver, k.spireTrustBundle)
	if o.Install.BundleServer {
		checks = append(checks, k.spireControllerManager)
	}
	checks = append(checks, k.istioAmbient, k.keycloak)
	if !o.Pre {
		checks = append(checks, k.crds, k.ready("controller", "trustsync-controller"), k.ready("webhook", "trustsync-webhook"))
		// An optional component is checked when asked for or when it is installed.
		if o.Install.BundleServer || k.installed(ctx, "trustsync-bundle-server") {
			checks = append(checks, k.ready("bundle server", "trustsync-bundle-server"))
		}
		if o.Install.Dashboard || k.installed(ctx, "trustsync-dashboard") {
			checks = append(checks, k.ready("dashboard", "trustsync-dashboard"))
		}
		checks = append(checks, k.webhookCABundle)
	}
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		out = append(out, c(cctx))
		cancel()
	}
	return out, nil
}

type checker struct {
	cl   Cluster
	o    CheckOptions
	objs []*unstructured.Unstructured
	p    *gitopsv1.Platform
	// platformErr is why the installed platform file could not be read.
	platformErr error
}

func pass(check, detail string) Result { return Result{Check: check, Status: Pass, Detail: detail} }
func warn(check, detail, fix string) Result {
	return Result{Check: check, Status: Warn, Detail: detail, Fix: fix}
}
func fail(check, detail, fix string) Result {
	return Result{Check: check, Status: Fail, Detail: detail, Fix: fix}
}

// platform finds the platform file the controller runs with.
func (k *checker) platform(ctx context.Context) {
	if k.p = k.o.Platform; k.p != nil {
		return
	}
	k.p = gitopsv1.DefaultPlatform()
	var cms corev1.ConfigMapList
	if err := k.cl.Client.List(ctx, &cms, client.InNamespace(Namespace)); err != nil {
		k.platformErr = err
		return
	}
	for _, cm := range cms.Items {
		// kustomize's configMapGenerator suffixes the name with a hash of the content.
		if data, ok := cm.Data["platform.yaml"]; ok && strings.HasPrefix(cm.Name, "trustsync-platform") {
			p, err := gitopsv1.ParsePlatform("ConfigMap "+Namespace+"/"+cm.Name, []byte(data))
			if err != nil {
				k.platformErr = err
				return
			}
			k.p = p
			return
		}
	}
}

// installed reports whether the installation has the Deployment.
func (k *checker) installed(ctx context.Context, deployment string) bool {
	d := &appsv1.Deployment{}
	return k.cl.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: deployment}, d) == nil
}

func (k *checker) kubernetesVersion(context.Context) Result {
	const name = "Kubernetes version"
	v, err := k.cl.Version()
	if err != nil {
		return fail(name, "the API server's version could not be read: "+err.Error(), "check the kubeconfig and that the API server is reachable")
	}
	major, _ := strconv.Atoi(strings.TrimRight(v.Major, "+"))
	minor, _ := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	want := fmt.Sprintf("%d.%d", MinKubernetes[0], MinKubernetes[1])
	if major < MinKubernetes[0] || major == MinKubernetes[0] && minor < MinKubernetes[1] {
		return fail(name, fmt.Sprintf("%s is older than %s", v.GitVersion, want), "upgrade the cluster to Kubernetes "+want+" or later")
	}
	return pass(name, fmt.Sprintf("%s (%s or later needed)", v.GitVersion, want))
}

// installRBAC asks the API server, for every kind and namespace the installation
// writes, whether the caller may create and patch it.
func (k *checker) installRBAC(ctx context.Context) Result {
	const name = "RBAC to install"
	type want struct{ group, resource, namespace string }
	seen := map[want]bool{}
	var missing []string
	for _, obj := range k.objs {
		gvk := obj.GroupVersionKind()
		m, err := k.cl.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue // a kind the cluster lacks is another check's finding
		}
		w := want{m.Resource.Group, m.Resource.Resource, obj.GetNamespace()}
		if seen[w] {
			continue
		}
		seen[w] = true
		for _, verb := range []string{"create", "patch"} {
			r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Group: w.group, Resource: w.resource, Namespace: w.namespace, Verb: verb},
			}}
			if err := k.cl.Client.Create(ctx, r); err != nil {
				return fail(name, "access could not be reviewed: "+err.Error(), "check the kubeconfig's credentials")
			}
			if !r.Status.Allowed {
				what := w.resource
				if w.group != "" {
					what += "." + w.group
				}
				if w.namespace != "" {
					what += " in " + w.namespace
				}
				missing = append(missing, verb+" "+what)
			}
		}
	}
	if len(missing) > 0 {
		return fail(name, "you may not "+strings.Join(missing, ", "), "install as a cluster administrator (the installation creates CRDs, cluster roles and webhooks)")
	}
	return pass(name, fmt.Sprintf("you may create and patch all %d kinds the installation writes", len(seen)))
}

func (k *checker) served(gvk schema.GroupVersionKind) bool {
	_, err := k.cl.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

func (k *checker) certManager(context.Context) Result {
	const name = "cert-manager"
	for _, kind := range []string{"Certificate", "Issuer"} {
		if !k.served(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: kind}) {
			return fail(name, "cert-manager.io/v1 "+kind+" is not served: cert-manager is not installed",
				"install cert-manager, or install trustsync without --cert-manager (the webhook then runs its own CA)")
		}
	}
	return pass(name, "cert-manager.io/v1 Certificate and Issuer are served")
}

// spireRequired says whether trustsync cannot do without SPIRE: the bundle server
// serves only SPIFFE-authenticated callers. Without it agents run without SPIFFE
// identities, which the platform file allows.
func (k *checker) spireRequired() bool { return k.o.Install.BundleServer }

func (k *checker) spireMissing(name, detail, fix string) Result {
	if k.spireRequired() {
		return fail(name, detail+"; the bundle server needs it", fix)
	}
	if !k.p.SPIREEnabled() {
		return pass(name, "SPIRE is off in the platform file (spire.enabled: false)")
	}
	return warn(name, detail+": agents run without SPIFFE identities and without SPIFFE mTLS", fix)
}

func (k *checker) spireCSIDriver(ctx context.Context) Result {
	const name = "SPIRE CSI driver"
	d := &storagev1.CSIDriver{}
	switch err := k.cl.Client.Get(ctx, client.ObjectKey{Name: identity.CSIDriver}, d); {
	case apierrors.IsNotFound(err):
		return k.spireMissing(name, "no CSIDriver "+identity.CSIDriver, "install SPIRE with the SPIFFE CSI driver (the spiffe/helm-charts-hardened chart, csiDriver enabled)")
	case err != nil:
		return fail(name, "CSIDrivers could not be read: "+err.Error(), "check the kubeconfig's credentials")
	}
	return pass(name, "CSIDriver "+identity.CSIDriver+" is installed")
}

func (k *checker) spireTrustBundle(ctx context.Context) Result {
	const name = "SPIRE trust bundle"
	ns := k.p.Spire.TrustBundleNamespace
	if ns == "" {
		ns = agentcard.DefaultBundleNamespace
	}
	where := "ConfigMap " + ns + "/" + identity.TrustBundleConfigMap
	fix := "configure SPIRE server's k8sbundle notifier to publish the bundle to " + where + " (key " + identity.TrustBundleKey + "), or set spire.trustBundleNamespace in the platform file"
	cm := &corev1.ConfigMap{}
	switch err := k.cl.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: identity.TrustBundleConfigMap}, cm); {
	case apierrors.IsNotFound(err):
		return k.spireMissing(name, "no "+where, fix)
	case err != nil:
		return fail(name, where+" could not be read: "+err.Error(), "check the kubeconfig's credentials")
	}
	td, err := spiffeid.TrustDomainFromString(k.p.TrustDomain)
	if err != nil {
		return fail(name, "the platform file's trust domain: "+err.Error(), "fix trustDomain in the platform file")
	}
	if _, err := identity.ParseTrustBundle(td, []byte(cm.Data[identity.TrustBundleKey])); err != nil {
		return fail(name, where+": "+err.Error(), fix)
	}
	return pass(name, where+" holds the bundle of "+td.String())
}

func (k *checker) spireControllerManager(context.Context) Result {
	const name = "SPIRE controller manager"
	if !k.served(schema.GroupVersionKind{Group: "spire.spiffe.io", Version: "v1alpha1", Kind: "ClusterSPIFFEID"}) {
		return fail(name, "spire.spiffe.io/v1alpha1 ClusterSPIFFEID is not served; the bundle server's identity is one",
			"install SPIRE with its controller manager (the spire-crds chart), or install without --bundle-server")
	}
	return pass(name, "ClusterSPIFFEID is served")
}

// istioAmbient looks for ztunnel, the node proxy of Istio's ambient mode.
func (k *checker) istioAmbient(ctx context.Context) Result {
	const name = "Istio ambient"
	fix := "install Istio in ambient mode (istioctl install --set profile=ambient)"
	var ds appsv1.DaemonSetList
	if err := k.cl.Client.List(ctx, &ds, client.MatchingLabels{"app": "ztunnel"}); err != nil {
		return fail(name, "DaemonSets could not be listed: "+err.Error(), "check the kubeconfig's credentials")
	}
	if len(ds.Items) == 0 {
		return warn(name, "no ztunnel DaemonSet: traffic between agents is not encrypted by the mesh", fix)
	}
	z := ds.Items[0]
	if z.Status.DesiredNumberScheduled == 0 || z.Status.NumberReady < z.Status.DesiredNumberScheduled {
		return warn(name, fmt.Sprintf("ztunnel %s/%s has %d of %d pods ready", z.Namespace, z.Name, z.Status.NumberReady, z.Status.DesiredNumberScheduled),
			"kubectl -n "+z.Namespace+" describe daemonset "+z.Name)
	}
	return pass(name, fmt.Sprintf("ztunnel %s/%s runs on %d nodes", z.Namespace, z.Name, z.Status.NumberReady))
}

// keycloak fetches the realm's OpenID configuration from the URL the controller
// registers clients at: through the API server's service proxy for a cluster-internal
// address, directly otherwise.
func (k *checker) keycloak(ctx context.Context) Result {
	const name = "Keycloak"
	if k.platformErr != nil {
		return fail(name, "the installed platform file: "+k.platformErr.Error(), "fix the ConfigMap trustsync-platform")
	}
	if !k.p.ClientRegistrationEnabled() {
		return pass(name, "client registration is off in the platform file")
	}
	base := strings.TrimRight(k.p.Keycloak.URL, "/")
	path := "/realms/" + url.PathEscape(k.p.Keycloak.Realm) + "/.well-known/openid-configuration"
	fix := "check keycloak.url and keycloak.realm in the platform file (ConfigMap trustsync-platform) and that Keycloak runs"
	body, err := k.fetch(ctx, base, path)
	if err != nil {
		return fail(name, base+path+": "+err.Error(), fix)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Issuer == "" {
		return fail(name, base+path+" is not an OpenID configuration", fix)
	}
	return pass(name, "realm "+k.p.Keycloak.Realm+" answers at "+base+" (issuer "+doc.Issuer+")")
}

// maxProbeBody bounds what a probe reads.
const maxProbeBody = 1 << 20

func (k *checker) fetch(ctx context.Context, base, path string) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if svc, ns, ok := clusterService(u.Hostname()); ok {
		if k.cl.ServiceProxy == nil {
			return nil, errors.New("a cluster-internal address, and the API server's service proxy is not available")
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		return k.cl.ServiceProxy(ctx, ns, u.Scheme, svc, port, strings.TrimRight(u.Path, "/")+path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.o.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
}

// clusterService reads name.namespace.svc[.cluster.local] as a Service.
func clusterService(host string) (name, namespace string, ok bool) {
	if net.ParseIP(host) != nil {
		return "", "", false
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	parts := strings.Split(host, ".")
	if len(parts) == 3 && parts[2] == "svc" {
		return parts[0], parts[1], true
	}
	return "", "", false
}

func (k *checker) crds(ctx context.Context) Result {
	const name = "CRDs"
	var bad []string
	names := CRDNames(k.objs)
	for _, n := range names {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k.cl.Client.Get(ctx, client.ObjectKey{Name: n}, crd); err != nil {
			bad = append(bad, n+" "+map[bool]string{true: "is missing", false: "could not be read: " + err.Error()}[apierrors.IsNotFound(err)])
			continue
		}
		established := slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
			return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
		})
		if !established {
			bad = append(bad, n+" is not established")
		}
	}
	if len(bad) > 0 {
		return fail(name, strings.Join(bad, "; "), "trustsync install (it applies the CRDs first), or kubectl apply -k config/crd")
	}
	return pass(name, fmt.Sprintf("all %d are established", len(names)))
}

// ready checks a Deployment of the installation with kstatus.
func (k *checker) ready(what, deployment string) func(context.Context) Result {
	return func(ctx context.Context) Result {
		name := strings.ToUpper(what[:1]) + what[1:]
		d := &appsv1.Deployment{}
		switch err := k.cl.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: deployment}, d); {
		case apierrors.IsNotFound(err):
			return fail(name, "no Deployment "+Namespace+"/"+deployment, "trustsync install")
		case err != nil:
			return fail(name, "Deployment "+Namespace+"/"+deployment+" could not be read: "+err.Error(), "check the kubeconfig's credentials")
		}
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if err != nil {
			return fail(name, err.Error(), "")
		}
		st, err := status.Compute(&unstructured.Unstructured{Object: raw})
		if err != nil {
			return fail(name, err.Error(), "")
		}
		if st.Status != status.CurrentStatus {
			return fail(name, fmt.Sprintf("Deployment %s/%s is %s: %s", Namespace, deployment, st.Status, st.Message),
				fmt.Sprintf("kubectl -n %s describe deployment %s; kubectl -n %s logs deployment/%s", Namespace, deployment, Namespace, deployment))
		}
		return pass(name, fmt.Sprintf("Deployment %s/%s: %d/%d replicas ready", Namespace, deployment, d.Status.ReadyReplicas, d.Status.Replicas))
	}
}

// webhookService is the name the API server calls the webhook at.
const webhookService = "trustsync-webhook." + Namespace + ".svc"

// webhookCABundle checks that each webhook configuration's caBundle verifies the
// certificate the webhook serves, for the name the API server calls it at: with a wrong
// one every agent pod's admission fails.
func (k *checker) webhookCABundle(ctx context.Context) Result {
	const name = "Webhook caBundle"
	var mut admissionv1.MutatingWebhookConfiguration
	var val admissionv1.ValidatingWebhookConfiguration
	for _, w := range []struct {
		obj  client.Object
		kind string
	}{{&mut, "MutatingWebhookConfiguration"}, {&val, "ValidatingWebhookConfiguration"}} {
		if err := k.cl.Client.Get(ctx, client.ObjectKey{Name: "trustsync-webhook"}, w.obj); err != nil {
			return fail(name, w.kind+" trustsync-webhook could not be read: "+err.Error(), "trustsync install")
		}
	}
	// The installation says which mode it is in: cert-manager's injector is asked for by
	// an annotation.
	certManaged := k.o.Install.CertManager || mut.Annotations["cert-manager.io/inject-ca-from"] != ""
	secretName, fix := certs.DefaultOptions().SecretName, "the webhook writes it at start: kubectl -n "+Namespace+" logs deployment/trustsync-webhook"
	if certManaged {
		secretName, fix = "trustsync-webhook-cert", "cert-manager's CA injector writes it: check the Certificate "+Namespace+"/trustsync-webhook and cert-manager's cainjector logs"
	}
	secret := &corev1.Secret{}
	if err := k.cl.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: secretName}, secret); err != nil {
		return fail(name, "the serving certificate (Secret "+Namespace+"/"+secretName+") could not be read: "+err.Error(), fix)
	}
	// Only the certificate is read of the Secret; its key is never looked at.
	leaf, err := firstCert(secret.Data[corev1.TLSCertKey])
	if err != nil {
		return fail(name, "Secret "+Namespace+"/"+secretName+" tls.crt: "+err.Error(), fix)
	}
	bundles := map[string][]byte{}
	for _, h := range mut.Webhooks {
		bundles["MutatingWebhookConfiguration trustsync-webhook, webhook "+h.Name] = h.ClientConfig.CABundle
	}
	for _, h := range val.Webhooks {
		bundles["ValidatingWebhookConfiguration trustsync-webhook, webhook "+h.Name] = h.ClientConfig.CABundle
	}
	keys := make([]string, 0, len(bundles))
	for w := range bundles {
		keys = append(keys, w)
	}
	slices.Sort(keys)
	now := k.o.Now()
	for _, w := range keys {
		pool := x509.NewCertPool()
		if len(bundles[w]) == 0 || !pool.AppendCertsFromPEM(bundles[w]) {
			return fail(name, w+": the caBundle is empty or holds no certificate", fix)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: webhookService, Roots: pool, CurrentTime: now}); err != nil {
			return fail(name, w+": the caBundle does not verify the webhook's certificate for "+webhookService+": "+err.Error(), fix)
		}
	}
	return pass(name, fmt.Sprintf("%d webhooks trust the certificate the webhook serves for %s (valid until %s)", len(keys), webhookService, leaf.NotAfter.UTC().Format(time.DateOnly)))
}

func firstCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
