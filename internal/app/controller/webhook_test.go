package controller_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/security/authbridge"
)

// TestSyncAndWebhookAgree: the multi-tenant example goes through the admission webhooks
// as the engine applies it; pods created from its Deployments, as their ReplicaSets
// would, are admitted and injected; and the next reconcile finds no drift and writes
// nothing — the engine and the webhook do not fight over anything.
func TestSyncAndWebhookAgree(t *testing.T) {
	ctx := t.Context()
	cloneURL, err := gitea.CreateRepo(ctx, "tenants")
	if err != nil {
		t.Fatal(err)
	}
	ws := gittest.Clone(t, cloneURL, gitea.AuthHeader())
	ws.Write(t, example(t, "multi-tenant"))
	sha := ws.Commit(t, "two teams")
	ws.Push(t)

	const ns = "e2e-tenants"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenants"}, Spec: gitopsv1.GitSourceSpec{
			URL: cloneURL, Ref: &gitopsv1.GitRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Hour},
			SecretRef: &gitopsv1.LocalObjectReference{Name: "git"},
		}},
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenants"}, Spec: gitopsv1.SyncSpec{
			SourceRef: gitopsv1.SourceReference{Name: "tenants"}, Path: "./apps", Interval: metav1.Duration{Duration: time.Hour}, Prune: true,
			Wait: false,
		}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	sync := waitForSync(t, ns, "tenants", func(s *gitopsv1.Sync) bool { return s.Status.LastAppliedRevision == "main@sha1:"+sha })

	// SPIRE is installed: team-a's research-agent runs mTLS strict, which refuses to start
	// without it.
	if err := env.Client.Create(ctx, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: authbridge.SPIFFECSIDriver}}); err != nil {
		t.Fatal(err)
	}

	// Pods of every agent and tool workload, as their ReplicaSets would create them.
	injected := 0
	var deployments []appsv1.Deployment
	var list appsv1.DeploymentList
	if err := env.Client.List(ctx, &list, client.MatchingLabels{gitopsv1.LabelSyncName: "tenants", gitopsv1.LabelSyncNamespace: ns}); err != nil {
		t.Fatal(err)
	}
	for _, d := range list.Items {
		deployments = append(deployments, d)
		hash := "7f6d5c4b3"
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: d.Namespace, GenerateName: d.Name + "-" + hash + "-",
				Labels:      map[string]string{"pod-template-hash": hash},
				Annotations: d.Spec.Template.Annotations,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.Name + "-" + hash,
					UID: "00000000-0000-0000-0000-000000000002", Controller: ptr.To(true)}},
			},
			Spec: *d.Spec.Template.Spec.DeepCopy(),
		}
		for k, v := range d.Spec.Template.Labels {
			pod.Labels[k] = v
		}
		// Until the webhook's cache has seen the CSIDriver, strict pods are refused.
		err := env.Client.Create(ctx, pod)
		for i := 0; err != nil && strings.Contains(err.Error(), "SPIRE is not installed") && i < 50; i++ {
			time.Sleep(100 * time.Millisecond)
			err = env.Client.Create(ctx, pod)
		}
		if err != nil {
			t.Fatalf("a pod of Deployment %s/%s was refused: %v", d.Namespace, d.Name, err)
		}
		hasSidecar := slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == authbridge.ContainerProxy })
		if d.Spec.Template.Labels[agentv1.Kagenti.LabelType()] == string(agentv1.AgentTypeAgent) != hasSidecar {
			t.Errorf("pod of %s/%s (type %q): sidecar injected = %v", d.Namespace, d.Name, d.Spec.Template.Labels[agentv1.Kagenti.LabelType()], hasSidecar)
		}
		if hasSidecar {
			injected++
		}
	}
	if injected == 0 {
		t.Fatal("no pod was injected")
	}

	// The next reconcile: no drift, no write.
	requested := strconv.FormatInt(time.Now().UnixNano(), 10)
	patch := client.MergeFrom(sync.DeepCopy())
	if sync.Annotations == nil {
		sync.Annotations = map[string]string{}
	}
	sync.Annotations[gitopsv1.AnnotationReconcileRequestedAt] = requested
	if err := env.Client.Patch(ctx, sync, patch); err != nil {
		t.Fatal(err)
	}
	sync = waitForSync(t, ns, "tenants", func(s *gitopsv1.Sync) bool { return s.Status.LastHandledReconcileAt == requested })
	if sync.Status.Drift != nil && len(sync.Status.Drift.Objects) > 0 {
		t.Errorf("drift after the pods were injected: %+v", sync.Status.Drift.Objects)
	}
	for _, d := range deployments {
		var live appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&d), &live); err != nil {
			t.Fatal(err)
		}
		if live.ResourceVersion != d.ResourceVersion {
			t.Errorf("Deployment %s/%s was written again (resourceVersion %s -> %s)", d.Namespace, d.Name, d.ResourceVersion, live.ResourceVersion)
		}
	}
	t.Logf("%d Deployments, %d pods injected, no drift", len(deployments), injected)
}

func waitForSync(t *testing.T, ns, name string, done func(*gitopsv1.Sync) bool) *gitopsv1.Sync {
	t.Helper()
	s := &gitopsv1.Sync{}
	for range 300 {
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		if done(s) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Sync %s/%s did not get there; status %+v", ns, name, s.Status)
	return nil
}
