package install

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/agentcard"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/webhook/certs"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func cluster(t *testing.T) Cluster {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return Cluster{Client: env.Client, Version: cs.Discovery().ServerVersion}
}

// results maps each check to its result.
func results(t *testing.T, o CheckOptions) map[string]Result {
	t.Helper()
	rs, err := Check(t.Context(), cluster(t), o)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Check] = r
	}
	return out
}

func expect(t *testing.T, rs map[string]Result, check string, st Status, detail string) {
	t.Helper()
	r, ok := rs[check]
	if !ok {
		t.Errorf("no check %q among %v", check, rs)
		return
	}
	if r.Status != st || !strings.Contains(r.Detail, detail) || (st != Pass && r.Fix == "") {
		t.Errorf("%s: %s %q (fix %q), want %s with %q and a fix", check, r.Status, r.Detail, r.Fix, st, detail)
	}
}

// rollOut stands in for kube-controller-manager and the kubelet, which envtest lacks:
// it marks trustsync's Deployments rolled out as soon as they exist, until ctx ends.
func rollOut(ctx context.Context, t *testing.T) {
	go func() {
		for ctx.Err() == nil {
			var ds appsv1.DeploymentList
			if err := env.Client.List(ctx, &ds, client.InNamespace(Namespace)); err == nil {
				for _, d := range ds.Items {
					if d.Status.ObservedGeneration == d.Generation {
						continue
					}
					u := &unstructured.Unstructured{}
					u.SetAPIVersion("apps/v1")
					u.SetKind("Deployment")
					u.SetNamespace(d.Namespace)
					u.SetName(d.Name)
					if err := testenv.MarkRolledOut(ctx, env.Client, u); err != nil && ctx.Err() == nil {
						t.Logf("rolling out %s: %v", d.Name, err)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// webhookStarts does what the webhook does at start with its own CA: the Secret with
// the CA and serving certificate, and the caBundle of both configurations.
func webhookStarts(t *testing.T) {
	t.Helper()
	o := certs.DefaultOptions()
	o.Namespace, o.ServiceName = Namespace, "trustsync-webhook"
	o.MutatingWebhookConfigurations = []string{"trustsync-webhook"}
	o.ValidatingWebhookConfigurations = []string{"trustsync-webhook"}
	r, err := certs.New(env.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// spireAndIstio installs what check looks for of SPIRE and Istio ambient.
func spireAndIstio(t *testing.T, trustDomain string) {
	t.Helper()
	ctx := t.Context()
	ca := x509test.NewSPIFFECA(t, trustDomain)
	ztunnel := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "ztunnel", Labels: map[string]string{"app": "ztunnel"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ztunnel"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ztunnel"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "istio/ztunnel"}}},
			},
		},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentcard.DefaultBundleNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
		&storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: identity.CSIDriver}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: agentcard.DefaultBundleNamespace, Name: identity.TrustBundleConfigMap},
			Data: map[string]string{identity.TrustBundleKey: string(x509test.SPIFFEBundleJSON(t, trustDomain, ca.Cert))}},
		ztunnel,
	} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	ztunnel.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3, ObservedGeneration: 1}
	if err := env.Client.Status().Update(ctx, ztunnel); err != nil {
		t.Fatal(err)
	}
}

// TestInstallCheckUninstall walks a cluster through install's life: check --pre finds
// what is missing, install applies and waits, check passes everything, a wrong caBundle
// and a missing CRD are found with their fix, and uninstall leaves the users' objects.
func TestInstallCheckUninstall(t *testing.T) {
	ctx := t.Context()
	kc, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	p := gitopsv1.DefaultPlatform()
	p.Keycloak.URL = kc.URL

	// Before: SPIRE and Istio missing are warnings, unless the bundle server needs SPIRE.
	pre := results(t, CheckOptions{Pre: true, Platform: p})
	expect(t, pre, "Kubernetes version", Pass, "1.29 or later needed")
	expect(t, pre, "RBAC to install", Pass, "create and patch")
	expect(t, pre, "SPIRE CSI driver", Warn, "no CSIDriver csi.spiffe.io")
	expect(t, pre, "SPIRE trust bundle", Warn, "no ConfigMap zero-trust-workload-identity-manager/spire-bundle")
	expect(t, pre, "Istio ambient", Warn, "no ztunnel DaemonSet")
	expect(t, pre, "Keycloak", Pass, "realm kagenti answers")
	if _, ok := pre["Controller"]; ok {
		t.Error("check --pre checked the installation")
	}
	withBundleServer := results(t, CheckOptions{Pre: true, Platform: p, Install: Options{BundleServer: true}})
	expect(t, withBundleServer, "SPIRE CSI driver", Fail, "the bundle server needs it")
	kc.Down(true)
	expect(t, results(t, CheckOptions{Pre: true, Platform: p}), "Keycloak", Fail, kc.URL+"/realms/kagenti/.well-known/openid-configuration")
	kc.Down(false)

	// Install, waiting for the Deployments, which rollOut makes ready.
	objs, err := Manifests(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rollCtx, stop := context.WithCancel(ctx)
	defer stop()
	rollOut(rollCtx, t)
	changes, err := Apply(ctx, env.Client, objs, ApplyOptions{Wait: true, Timeout: time.Minute, Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(objs) {
		t.Errorf("%d changes for %d objects", len(changes), len(objs))
	}
	again, err := Apply(ctx, env.Client, objs, ApplyOptions{Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if c.Action != "unchanged" {
			t.Errorf("installing again %s %s", c.Object, c.Action)
		}
	}

	// Installed, before the webhook ran: its caBundle is empty.
	after := results(t, CheckOptions{Platform: p})
	expect(t, after, "CRDs", Pass, "all 6 are established")
	expect(t, after, "Controller", Pass, "trustsync-system/trustsync-controller")
	expect(t, after, "Webhook", Pass, "trustsync-system/trustsync-webhook")
	expect(t, after, "Webhook caBundle", Fail, "trustsync-webhook-tls")

	webhookStarts(t)
	spireAndIstio(t, p.TrustDomain)
	all := results(t, CheckOptions{Platform: p})
	for name, r := range all {
		if r.Status != Pass {
			t.Errorf("installed, with SPIRE and Istio: %s is %s: %s", name, r.Status, r.Detail)
		}
	}
	if _, ok := all["Dashboard"]; ok {
		t.Error("the dashboard is checked though it is not installed")
	}
	// The installation's own mode decides which certificate is checked: a webhook
	// configuration cert-manager injects is checked against cert-manager's Secret.
	annotated := &admissionv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "trustsync-webhook"}, annotated); err != nil {
		t.Fatal(err)
	}
	plain := annotated.DeepCopy()
	annotated.Annotations = map[string]string{"cert-manager.io/inject-ca-from": Namespace + "/trustsync-webhook"}
	if err := env.Client.Update(ctx, annotated); err != nil {
		t.Fatal(err)
	}
	expect(t, results(t, CheckOptions{Platform: p}), "Webhook caBundle", Fail, "Secret trustsync-system/trustsync-webhook-cert")
	plain.ResourceVersion = annotated.ResourceVersion
	if err := env.Client.Update(ctx, plain); err != nil {
		t.Fatal(err)
	}
	// The platform file is the installed one when none is given.
	if r := results(t, CheckOptions{})["Keycloak"]; r.Status != Fail || !strings.Contains(r.Detail, gitopsv1.DefaultKeycloakURL) {
		t.Errorf("with the installed platform file Keycloak is %s %q, want the default URL unreachable", r.Status, r.Detail)
	}

	// A caBundle of another CA is found, naming the webhook.
	mut := &admissionv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "trustsync-webhook"}, mut); err != nil {
		t.Fatal(err)
	}
	mut.Webhooks[0].ClientConfig.CABundle = x509test.New(t, x509test.Options{IsCA: true}).CertPEM()
	if err := env.Client.Update(ctx, mut); err != nil {
		t.Fatal(err)
	}
	expect(t, results(t, CheckOptions{Platform: p}), "Webhook caBundle", Fail, "MutatingWebhookConfiguration trustsync-webhook, webhook inject.kagenti.io: the caBundle does not verify")
	webhookStarts(t)

	// A missing CRD is named; installing again brings it back.
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "agentcards.agent.kagenti.dev"}}
	if err := env.Client.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	waitGone(t, crd)
	expect(t, results(t, CheckOptions{Platform: p}), "CRDs", Fail, "agentcards.agent.kagenti.dev is missing")
	if _, err := Apply(ctx, env.Client, objs, ApplyOptions{Interval: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	expect(t, results(t, CheckOptions{Platform: p}), "CRDs", Pass, "all 6")

	// Uninstall: trustsync's workloads, RBAC, webhooks and certificate go; the CRDs, the
	// namespace and every user object stay, and an object of the same name nobody
	// installed too.
	user := &gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "agents"},
		Spec: gitopsv1.GitSourceSpec{URL: "https://git.example.com/team/agents.git", Interval: metav1.Duration{Duration: time.Minute}}}
	if err := env.Client.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	allObjs, err := Manifests(Options{CertManager: true, BundleServer: true, Dashboard: true})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := Remove(ctx, env.Client, allObjs, RemoveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(changesText(removed), "Secret/trustsync-system/trustsync-webhook-tls deleted") {
		t.Errorf("uninstall left the webhook's CA: %s", changesText(removed))
	}
	for _, o := range objs {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), live)
		keep := IsCRD(o) || o.GetKind() == "Namespace"
		gone := apierrors.IsNotFound(err) || (err == nil && live.GetDeletionTimestamp() != nil)
		if keep == gone {
			t.Errorf("after uninstall %s/%s: gone %v (%v)", o.GetKind(), o.GetName(), gone, err)
		}
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(user), user); err != nil {
		t.Errorf("uninstall removed the user's GitSource: %v", err)
	}
	gone := results(t, CheckOptions{Platform: p})
	expect(t, gone, "Controller", Fail, "no Deployment trustsync-system/trustsync-controller")
}

func changesText(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Object + " " + c.Action + "\n")
	}
	return b.String()
}

func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	for range 100 {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s is still there", obj.GetName())
}
