package testenv

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestPolicyPathSegments: the API server refuses a policy path with a segment that is
// empty or starts with "." (so also "." and "..") (bundles are laid out by path), and accepts plain ones.
func TestPolicyPathSegments(t *testing.T) {
	for path, ok := range map[string]bool{"inbound/request.rego": true, "lib/x/y.rego": true, "x/../../global/a.rego": false, "a/./b.rego": false, "a//b.rego": false, "a/.hidden.rego": false} {
		p := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "path-"},
			Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace, Policies: []agentv1.RegoPolicy{{Path: path, Content: "package authbridge.ns.x\n"}}}}
		err := env.Client.Create(context.Background(), p)
		if ok && err != nil {
			t.Errorf("%s refused: %v", path, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "path")) {
			t.Errorf("%s accepted (%v)", path, err)
		}
	}
}

// TestSyncClusterSelectorRefused: a field nothing reads is refused, so a Sync meant for
// other clusters is not silently applied to this one.
func TestSyncClusterSelectorRefused(t *testing.T) {
	s := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "fleet-"},
		Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}, Interval: metav1.Duration{Duration: 60e9},
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}}
	err := env.Client.Create(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "clusterSelector is not supported yet") {
		t.Fatalf("a Sync with a clusterSelector: %v, want a refusal", err)
	}
	s.Spec.ClusterSelector = nil
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatalf("the same Sync without it: %v", err)
	}
}
