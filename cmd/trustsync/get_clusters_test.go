package main

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestGetClusters: get clusters lists each fleet Cluster with its version, Ready, last
// contact, trust domain and why; one never contacted says so.
func TestGetClusters(t *testing.T) {
	ctx := t.Context()
	prod := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "cli", Name: "prod-eu"},
		Spec: gitopsv1.ClusterSpec{Platform: &gitopsv1.ClusterPlatform{TrustDomain: "prod-eu.example.org"}}}
	fresh := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "cli", Name: "staging"}}
	for _, c := range []*gitopsv1.Cluster{prod, fresh} {
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	contact := metav1.NewTime(time.Now().Add(-2 * time.Minute))
	prod.Status.ServerVersion, prod.Status.LastContact = "v1.37.2", &contact
	meta.SetStatusCondition(&prod.Status.Conditions, metav1.Condition{Type: gitopsv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: gitopsv1.ReasonConnected, Message: "Connected as fleet, Kubernetes v1.37.2"})
	if err := env.Client.Status().Update(ctx, prod); err != nil {
		t.Fatal(err)
	}
	out, _, err := run("get", "clusters", "-n", "cli", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("get clusters:\n%s", out)
	}
	for line, want := range map[string][]string{lines[1]: {"prod-eu", "v1.37.2", "True", "2m ago", "prod-eu.example.org", "Connected as fleet"}, lines[2]: {"staging", "-", "never"}} {
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("row %q lacks %q", line, w)
			}
		}
	}
}
