package webhook_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden pod specs in testdata/")

var (
	env        *testenv.Env
	cached     client.Reader // the webhooks' cache, to wait until it saw a change
	platformNS = gitopsv1.DefaultPlatformNamespace
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testenv.RunWith(m, &env, testenv.Options{
		WebhookPaths:     []string{filepath.Join("..", "config", "webhook", "manifests.yaml")},
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{containerAdder(), rossoctlInjection()},
	}, serve))
}

// serve runs the webhooks as `trustsync webhook` does, on the address and certificate
// envtest registered with the API server.
func serve(ctx context.Context, e *testenv.Env) error {
	// Both families: the Kagenti matrix holds with Rossoctl read too, and Rossoctl's pods
	// are admitted through their own configuration entry (rossoctlInjection).
	p := &gitopsv1.Platform{Families: []string{"kagenti", "rossoctl"}}
	p.Default()
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Cache:                  webhook.CacheOptions(p),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: e.Webhook.LocalServingHost, Port: e.Webhook.LocalServingPort, CertDir: e.Webhook.LocalServingCertDir,
		}),
	})
	if err != nil {
		return err
	}
	if err := webhook.Register(ctx, mgr, p); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register("/test-add-container", &admission.Webhook{Handler: admission.HandlerFunc(addContainer)})
	cached = mgr.GetCache()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "webhook manager: %v\n", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("webhook cache did not sync")
	}
	started := mgr.GetWebhookServer().StartedChecker()
	for range 100 {
		if started(nil) == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the webhook server did not start")
}

// rossoctlInjection is the pod-injection entry `trustsync install --families rossoctl`
// adds: config/webhook's, with Rossoctl's selectors.
func rossoctlInjection() *admissionregistrationv1.MutatingWebhookConfiguration {
	data, err := os.ReadFile(filepath.Join("..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		panic(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.Unmarshal([]byte(strings.Split(string(data), "\n---\n")[0]), &mwc); err != nil {
		panic(err)
	}
	k, r := agentv1.Kagenti, agentv1.Rossoctl
	h := mwc.Webhooks[0]
	h.Name = "inject." + r.Domain
	for _, sel := range []*metav1.LabelSelector{h.NamespaceSelector, h.ObjectSelector} {
		for i := range sel.MatchExpressions {
			sel.MatchExpressions[i].Key = strings.NewReplacer(k.LabelEnabledNamespace(), r.LabelEnabledNamespace(), k.Domain+"/", r.Domain+"/").Replace(sel.MatchExpressions[i].Key)
		}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "trustsync-webhook-rossoctl"}, Webhooks: []admissionregistrationv1.MutatingWebhook{h}}
}

// containerAdder is a second mutating webhook that runs after trustsync's and adds a
// container, so the API server reinvokes trustsync's (reinvocationPolicy IfNeeded).
func containerAdder() *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-test-container-adder"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "adder.test.trustsync.dev",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Name: "test", Namespace: "default", Path: ptr.To("/test-add-container"),
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"test.trustsync.dev/add-container": "true"}},
		}},
	}
}

func addContainer(_ context.Context, req admission.Request) admission.Response {
	if strings.Contains(string(req.Object.Raw), `"name":"logger"`) {
		return admission.Allowed("")
	}
	return admission.Patched("", jsonPatchAdd("/spec/containers/-", map[string]any{"name": "logger", "image": "example/logger"}))
}

// ---- cluster state ----------------------------------------------------------------

// setGates writes the kagenti-feature-gates ConfigMap ("" deletes it) and waits until the
// webhooks' cache has it.
func setGates(t *testing.T, gates string) {
	t.Helper()
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: agentv1.Kagenti.ConfigMapFeatureGates()}}
	if gates == "" {
		if err := env.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		waitCached(t, cm, "")
		return
	}
	cm.Data = map[string]string{agentv1.KeyFeatureGatesYAML: gates}
	if err := env.Client.Create(ctx, cm); apierrors.IsAlreadyExists(err) {
		err = env.Client.Update(ctx, cm)
	} else if err != nil {
		t.Fatal(err)
	}
	waitCached(t, cm, cm.ResourceVersion)
}

// setSPIRE installs or removes the SPIFFE CSI driver.
func setSPIRE(t *testing.T, present bool) {
	t.Helper()
	ctx := context.Background()
	d := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: authbridge.SPIFFECSIDriver}}
	if !present {
		if err := env.Client.Delete(ctx, d); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		waitCached(t, d, "")
		return
	}
	d.Spec.PodInfoOnMount = ptr.To(true)
	if err := env.Client.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	live := &storagev1.CSIDriver{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), live); err != nil {
		t.Fatal(err)
	}
	waitCached(t, d, live.ResourceVersion)
}

// waitCached waits until the cache holds the object at a resourceVersion, or not at all
// when rv is empty.
func waitCached(t *testing.T, obj client.Object, rv string) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	for range 200 {
		live := obj.DeepCopyObject().(client.Object)
		err := cached.Get(context.Background(), key, live)
		if (rv == "" && apierrors.IsNotFound(err)) || (err == nil && rv != "" && live.GetResourceVersion() == rv) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the webhook cache did not see %T %s at resourceVersion %q", obj, key, rv)
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{agentv1.Kagenti.LabelEnabledNamespace(): "true"}}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func createRuntime(t *testing.T, ns, workload string, spec agentv1.AgentRuntimeSpec) {
	t.Helper()
	spec.TargetRef = agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: workload}
	if spec.Type == "" {
		spec.Type = agentv1.AgentTypeAgent
	}
	rt := &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: workload}, Spec: spec}
	if err := env.Client.Create(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	waitCached(t, rt, rt.ResourceVersion)
}

// warnings collects the API server's warnings, which carry the webhook's.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func clientWithWarnings(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// agentPod is a pod as a Deployment's ReplicaSet creates it.
func agentPod(ns, workload, typ string, containers []corev1.Container) *corev1.Pod {
	hash := "5d9f8c7b6"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    ns,
			GenerateName: workload + "-" + hash + "-",
			Labels:       map[string]string{"app": workload, "pod-template-hash": hash, agentv1.Kagenti.LabelType(): typ},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: workload + "-" + hash, UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{Containers: containers},
	}
}

// goldenView is what a golden file holds of an admitted pod: what injection touches.
type goldenView struct {
	Annotations    map[string]string  `json:"annotations,omitempty"`
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	Containers     []corev1.Container `json:"containers"`
	Volumes        []corev1.Volume    `json:"volumes,omitempty"`
}

func compareGolden(t *testing.T, name string, pod *corev1.Pod) {
	t.Helper()
	v := goldenView{InitContainers: pod.Spec.InitContainers, Containers: pod.Spec.Containers, Volumes: pod.Spec.Volumes}
	for k, val := range pod.Annotations {
		if strings.HasPrefix(k, "kagenti.io/") {
			if v.Annotations == nil {
				v.Annotations = map[string]string{}
			}
			v.Annotations[k] = val
		}
	}
	got, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./webhook -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("pod differs from %s (go test ./webhook -update rewrites it):\n%s", file, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only one side has, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	count := map[string]int{}
	for _, l := range w {
		count[l]++
	}
	for _, l := range g {
		count[l]--
	}
	var b strings.Builder
	for _, l := range w {
		if count[l] > 0 {
			fmt.Fprintf(&b, "- %s\n", l)
			count[l]--
		}
	}
	for _, l := range g {
		if count[l] < 0 {
			fmt.Fprintf(&b, "+ %s\n", l)
			count[l]++
		}
	}
	return b.String()
}

func objectKey(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}
