package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/views"
)

// TestTree: a Sync's inventory printed by namespace and kind, each object with its
// health read from the cluster (a Deployment still rolling out, a Service Current, a
// ConfigMap Current without being read, a deleted object NotFound, a kind the API
// server does not serve Unknown with the reason) and its drift.
func TestTree(t *testing.T) {
	ctx := context.Background()
	const ns = "cli-tree"
	owner := map[string]string{gitopsv1.LabelSyncName: "apps", gitopsv1.LabelSyncNamespace: ns}
	labels := map[string]string{"app": "web"}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: owner}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: owner}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}}},
		}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: owner}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		// Another Sync's Service of the same name pattern is not this one's.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone", Labels: map[string]string{gitopsv1.LabelSyncName: "other", gitopsv1.LabelSyncNamespace: ns}}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "apps"}, Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "apps"}, s); err != nil {
		t.Fatal(err)
	}
	s.Status.LastAppliedRevision = "main@sha1:" + strings.Repeat("c", 40)
	s.Status.Inventory = &gitopsv1.Inventory{Entries: []gitopsv1.InventoryEntry{
		{ID: ns + "_web_apps_Deployment", V: "v1"},
		{ID: ns + "_web__Service", V: "v1"},
		{ID: ns + "_gone__Service", V: "v1"},
		{ID: ns + "_settings__ConfigMap", V: "v1"},
		{ID: ns + "_w__Widget", V: "v1"},
		{ID: "_" + ns + "__Namespace", V: "v1"},
	}}
	s.Status.Drift = &gitopsv1.DriftReport{Objects: []gitopsv1.DriftedObject{{ID: ns + "_web_apps_Deployment", Fields: []string{"/spec/replicas"}}}}
	if err := env.Client.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := run("tree", "sync", "apps", "-n", ns, "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err, errOut)
	}
	for _, want := range []string{
		"Sync cli-tree/apps", "main@cccccccccccc",
		"├── cluster-scoped\n│   └── Namespace\n│       └── cli-tree  Current\n",
		"└── cli-tree\n",
		"    ├── ConfigMap\n    │   └── settings  Current\n",
		"    ├── Deployment (apps)\n    │   └── web  InProgress  drifted\n",
		"    ├── Service\n    │   ├── gone  NotFound\n    │   └── web  Current\n",
		"    └── Widget\n        └── w  Unknown\n",
		"6 objects, 3 not Current, 1 drifted\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the tree lacks %q:\n%s", want, out)
		}
	}

	out, _, err = run("tree", "sync", "apps", "-n", ns, "-o", "json", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var tree []views.NamespaceNode
	if err := json.Unmarshal([]byte(out), &tree); err != nil || len(tree) != 2 {
		t.Fatalf("json: %v, %d namespaces\n%s", err, len(tree), out)
	}
	widget := tree[1].Kinds[len(tree[1].Kinds)-1]
	if widget.Kind != "Widget" || !strings.Contains(widget.Objects[0].Health.Message, "cannot be listed") {
		t.Errorf("the unserved kind: %+v", widget)
	}

	if _, errOut, err := run("tree", "source", "repo", "-n", ns, "--kubeconfig", kubeconfig); err == nil || !strings.Contains(errOut, "works on syncs") {
		t.Errorf("tree source: %v %s", err, errOut)
	}
}
