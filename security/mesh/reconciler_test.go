package mesh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
)

var (
	env *testenv.Env
	// managed is the Reconciler the manager runs with the default options.
	managed *Reconciler
)

func TestMain(m *testing.M) {
	log.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, &env, startController))
}

func startController(ctx context.Context, e *testenv.Env) error {
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	managed = &Reconciler{Events: mgr.GetEventRecorder("trustsync")}
	if err := managed.SetupWithManager(context.Background(), mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil
}

var (
	rootKey    = types.NamespacedName{Namespace: RootNamespace, Name: RootSecretName}
	interKey   = types.NamespacedName{Namespace: IstioNamespace, Name: DefaultIntermediateSecretName}
	cacertsKey = types.NamespacedName{Namespace: IstioNamespace, Name: CACertsSecretName}
	istiodKey  = types.NamespacedName{Namespace: IstioNamespace, Name: "istiod"}
	ztunnelKey = types.NamespacedName{Namespace: ZtunnelNamespace, Name: "ztunnel"}
)

// TestCACertsLifecycle walks the shared trust through its life on one cluster, so the
// steps run in order: first issuance, a reconcile with nothing new, an intermediate from
// a foreign root, a crash between write and rollout, and a root rotation.
func TestCACertsLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{RootNamespace, IstioNamespace, ZtunnelNamespace, "kagenti-system"} {
		createNamespace(t, ns)
	}
	createWorkloads(t, IstioNamespace, ZtunnelNamespace)

	root := newRoot(t, "mesh root")
	inter := root.issueCA(t, "istio-system intermediate")
	oldMeshRoot := newRoot(t, "istiod self-signed root")
	// istiod published its self-signed root before cacerts existed: stale once cacerts
	// is written. The one in kagenti-system already holds the new root and stays.
	createRootConfigMap(t, IstioNamespace, oldMeshRoot.certPEM)
	createRootConfigMap(t, "kagenti-system", root.certPEM)

	var first map[string]string // restartedAt of istiod and ztunnel after the first issuance
	t.Run("a verified chain writes cacerts and rolls istiod and ztunnel", func(t *testing.T) {
		create(t, rootSecret(rootKey.Namespace, rootKey.Name, root))
		create(t, intermediateSecret(interKey.Namespace, interKey.Name, inter))
		s := waitForCACerts(t, inter, root)
		if s.Labels[LabelManagedBy] != ManagedBy {
			t.Errorf("cacerts labels %v", s.Labels)
		}
		first = restartedAt(t)
		for k, v := range first {
			if v == "" {
				t.Errorf("%s has no %s", k, AnnotationRestarted)
			}
		}
		if exists(t, &corev1.ConfigMap{}, types.NamespacedName{Namespace: IstioNamespace, Name: RootConfigMapName}) {
			t.Error("the stale istio-ca-root-cert in istio-system was not deleted")
		}
		if !exists(t, &corev1.ConfigMap{}, types.NamespacedName{Namespace: "kagenti-system", Name: RootConfigMapName}) {
			t.Error("istio-ca-root-cert in kagenti-system holds the current root, yet was deleted")
		}
		waitForEvent(t, IstioNamespace, CACertsSecretName, corev1.EventTypeNormal, ReasonCACertsUpdated)
		if exists(t, &corev1.Secret{}, types.NamespacedName{Namespace: GatewayNamespace, Name: CACertsSecretName}) {
			t.Error("cacerts written in openshift-ingress, which does not exist")
		}
	})

	t.Run("a reconcile with nothing new writes and restarts nothing", func(t *testing.T) {
		waitSettled(t)
		before := versions(t)
		for range 2 {
			res, err := managed.Reconcile(ctx, trustRequest)
			if err != nil || res.RequeueAfter != 0 {
				t.Fatalf("Reconcile = %+v, %v", res, err)
			}
		}
		if after := versions(t); !equalMaps(before, after) {
			t.Errorf("resourceVersions changed: before %v, after %v", before, after)
		}
	})

	t.Run("an intermediate from another root is rejected and deleted", func(t *testing.T) {
		waitSettled(t)
		before := versions(t)
		foreign := newRoot(t, "foreign root").issueCA(t, "foreign intermediate")
		s := &corev1.Secret{}
		get(t, interKey, s)
		s.Data = intermediateSecret(interKey.Namespace, interKey.Name, foreign).Data
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitfor.True(t, "the mismatched intermediate is deleted", func() bool { return !exists(t, &corev1.Secret{}, interKey) })
		ev := waitForEvent(t, IstioNamespace, DefaultIntermediateSecretName, corev1.EventTypeWarning, ReasonFingerprintMismatch)
		if !strings.Contains(ev.Note, "sha256:") || strings.Contains(ev.Note, "PRIVATE KEY") {
			t.Errorf("event note %q: want the fingerprints and nothing secret", ev.Note)
		}
		after := versions(t)
		delete(before, "intermediate")
		delete(after, "intermediate")
		if !equalMaps(before, after) {
			t.Errorf("cacerts or the mesh changed on a mismatched intermediate: before %v, after %v", before, after)
		}

		// cert-manager issues it again from the right root; the same certificate here,
		// so cacerts has nothing new and the mesh is not rolled.
		create(t, intermediateSecret(interKey.Namespace, interKey.Name, inter))
		waitSettled(t)
		if _, err := managed.Reconcile(ctx, trustRequest); err != nil {
			t.Fatal(err)
		}
		after = versions(t)
		delete(after, "intermediate")
		if !equalMaps(before, after) {
			t.Errorf("the re-issued, unchanged intermediate changed cacerts or the mesh: before %v, after %v", before, after)
		}
	})

	t.Run("a rollout cut short is finished later", func(t *testing.T) {
		// As if the process died after writing cacerts and before the restarts.
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+AnnotationRolloutPending+`":"true"}}}`))
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cacertsKey.Namespace, Name: cacertsKey.Name}}
		if err := env.Client.Patch(ctx, s, patch); err != nil {
			t.Fatal(err)
		}
		before := restartedAt(t)
		waitfor.True(t, "the mesh is rolled and the annotation removed", func() bool {
			get(t, cacertsKey, s)
			_, pending := s.Annotations[AnnotationRolloutPending]
			return !pending && !equalMaps(before, restartedAt(t))
		})
		first = restartedAt(t)
	})

	t.Run("a rotated root updates cacerts and rolls the mesh again", func(t *testing.T) {
		root2 := newRoot(t, "mesh root 2")
		inter2 := root2.issueCA(t, "istio-system intermediate 2")
		s := &corev1.Secret{}
		get(t, rootKey, s)
		s.Data = rootSecret(rootKey.Namespace, rootKey.Name, root2).Data
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		// The intermediate still comes from the old root: deleted, so cert-manager
		// issues it from the new one, which the test then does.
		waitfor.True(t, "the intermediate of the old root is deleted", func() bool { return !exists(t, &corev1.Secret{}, interKey) })
		create(t, intermediateSecret(interKey.Namespace, interKey.Name, inter2))
		waitForCACerts(t, inter2, root2)
		waitfor.True(t, "istiod and ztunnel are rolled again", func() bool {
			now := restartedAt(t)
			return now["istiod"] != first["istiod"] && now["ztunnel"] != first["ztunnel"]
		})
		// kagenti-system held the first root, stale now.
		if exists(t, &corev1.ConfigMap{}, types.NamespacedName{Namespace: "kagenti-system", Name: RootConfigMapName}) {
			t.Error("the istio-ca-root-cert of the old root in kagenti-system was not deleted")
		}
		first = restartedAt(t)

		t.Run("a deleted cacerts is written again", func(t *testing.T) {
			if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cacertsKey.Namespace, Name: cacertsKey.Name}}); err != nil {
				t.Fatal(err)
			}
			waitForCACerts(t, inter2, root2)
			waitfor.True(t, "the mesh is rolled onto the new cacerts", func() bool { return !equalMaps(first, restartedAt(t)) })
		})
	})
}

// TestCACertsWaitsQuietly runs reconcilers of their own (not the manager's) on Secrets
// that are missing, and on a workload found by name in any namespace.
func TestCACertsWaitsQuietly(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "wait-root")
	createNamespace(t, "wait-inter")
	newReconciler := func(rootNS string, inters ...Intermediate) *Reconciler {
		o := DefaultOptions()
		o.Root = types.NamespacedName{Namespace: rootNS, Name: RootSecretName}
		o.Intermediates = inters
		return &Reconciler{Client: env.Client, Reader: env.Client, Options: o}
	}
	inWaitInter := Intermediate{Secret: types.NamespacedName{Namespace: "wait-inter", Name: DefaultIntermediateSecretName}}
	inMissingNS := Intermediate{Secret: types.NamespacedName{Namespace: "no-such-namespace", Name: DefaultIntermediateSecretName}}

	tests := []struct {
		name    string
		r       *Reconciler
		requeue bool
	}{
		{"no root", newReconciler("wait-root", inWaitInter), true},
		{"root, no intermediate in an existing namespace", newReconciler("wait-root", inWaitInter), true},
		{"root, the intermediate's namespace does not exist", newReconciler("wait-root", inMissingNS), false},
	}
	root := newRoot(t, "wait root")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i == 1 {
				create(t, rootSecret("wait-root", RootSecretName, root))
			}
			res, err := tt.r.Reconcile(ctx, trustRequest)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if got := res.RequeueAfter > 0; got != tt.requeue {
				t.Errorf("requeue = %v (%+v), want %v", got, res, tt.requeue)
			}
			if exists(t, &corev1.Secret{}, types.NamespacedName{Namespace: "wait-inter", Name: CACertsSecretName}) {
				t.Error("cacerts written without an intermediate")
			}
		})
	}

	t.Run("a workload without a namespace is found where it is", func(t *testing.T) {
		createNamespace(t, "anywhere-ztunnel")
		ds := daemonSet("anywhere-ztunnel", "ztunnel-anywhere")
		create(t, ds)
		in := inWaitInter
		in.Restart = []Workload{{Kind: KindDaemonSet, Name: "ztunnel-anywhere"}, {Kind: KindDeployment, Namespace: "wait-inter", Name: "absent"}}
		inter := root.issueCA(t, "wait intermediate")
		create(t, intermediateSecret(in.Secret.Namespace, in.Secret.Name, inter))
		r := newReconciler("wait-root", in)
		if _, err := r.Reconcile(ctx, trustRequest); err != nil {
			t.Fatal(err)
		}
		get(t, client.ObjectKeyFromObject(ds), ds)
		if ds.Spec.Template.Annotations[AnnotationRestarted] == "" {
			t.Error("the DaemonSet found by name was not restarted")
		}
		s := &corev1.Secret{}
		get(t, types.NamespacedName{Namespace: "wait-inter", Name: CACertsSecretName}, s)
		if !bytes.Equal(s.Data[KeyCACertPEM], inter.certPEM) || s.Annotations[AnnotationRolloutPending] != "" {
			t.Errorf("cacerts %v, annotations %v", keys(s.Data), s.Annotations)
		}
	})
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	o.SetResourceVersion("")
	if err := env.Client.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}

func get(t *testing.T, key types.NamespacedName, o client.Object) {
	t.Helper()
	if err := env.Client.Get(context.Background(), key, o); err != nil {
		t.Fatalf("reading %T %s: %v", o, key, err)
	}
}

func exists(t *testing.T, o client.Object, key types.NamespacedName) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), key, o)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("reading %T %s: %v", o, key, err)
	}
	return err == nil
}

func createWorkloads(t *testing.T, istiodNS, ztunnelNS string) {
	t.Helper()
	labels := map[string]string{"app": "istiod"}
	create(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: istiodNS, Name: "istiod"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: "istio/pilot"}}},
			},
		},
	})
	create(t, daemonSet(ztunnelNS, "ztunnel"))
}

func daemonSet(ns, name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "istio/ztunnel"}}},
			},
		},
	}
}

func createRootConfigMap(t *testing.T, ns string, rootPEM []byte) {
	t.Helper()
	create(t, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: RootConfigMapName},
		Data:       map[string]string{KeyRootCertPEM: string(rootPEM)},
	})
}

// waitForCACerts waits until cacerts holds the four keys of inter and root and its
// rollout is done.
func waitForCACerts(t *testing.T, inter, root *testCA) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	want := map[string][]byte{
		KeyCACertPEM:    inter.certPEM,
		KeyCAKeyPEM:     inter.keyPEM,
		KeyRootCertPEM:  root.certPEM,
		KeyCertChainPEM: append(bytes.Clone(inter.certPEM), root.certPEM...),
	}
	waitfor.True(t, "cacerts holds the intermediate", func() bool {
		if !exists(t, s, cacertsKey) || len(s.Data) != 4 || s.Annotations[AnnotationRolloutPending] != "" {
			return false
		}
		for k, v := range want {
			if !bytes.Equal(s.Data[k], v) {
				return false
			}
		}
		return true
	})
	return s
}

// waitSettled waits until the controller has nothing left to do: the intermediate
// verifies and cacerts has no rollout pending.
func waitSettled(t *testing.T) {
	t.Helper()
	waitfor.True(t, "the controller settles", func() bool {
		s := &corev1.Secret{}
		return exists(t, s, cacertsKey) && s.Annotations[AnnotationRolloutPending] == "" && exists(t, &corev1.Secret{}, interKey)
	})
	time.Sleep(500 * time.Millisecond) // let a reconcile already queued finish
}

func restartedAt(t *testing.T) map[string]string {
	t.Helper()
	d, ds := &appsv1.Deployment{}, &appsv1.DaemonSet{}
	get(t, istiodKey, d)
	get(t, ztunnelKey, ds)
	return map[string]string{"istiod": d.Spec.Template.Annotations[AnnotationRestarted], "ztunnel": ds.Spec.Template.Annotations[AnnotationRestarted]}
}

// versions are the resourceVersions of what the controller writes.
func versions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, o := range map[string]struct {
		key types.NamespacedName
		obj client.Object
	}{
		"cacerts":      {cacertsKey, &corev1.Secret{}},
		"intermediate": {interKey, &corev1.Secret{}},
		"istiod":       {istiodKey, &appsv1.Deployment{}},
		"ztunnel":      {ztunnelKey, &appsv1.DaemonSet{}},
	} {
		if exists(t, o.obj, o.key) {
			out[name] = o.obj.GetResourceVersion()
		}
	}
	return out
}

func waitForEvent(t *testing.T, ns, regarding, eventType, reason string) *eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	waitfor.True(t, fmt.Sprintf("a %s event %s about %s/%s", eventType, reason, ns, regarding), func() bool {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for i, e := range list.Items {
			if e.Reason == reason && e.Type == eventType && e.Regarding.Kind == "Secret" && e.Regarding.Name == regarding {
				found = &list.Items[i]
				return true
			}
		}
		return false
	})
	return found
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
