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

// TestSyncFleetFields: clusterSelector is accepted; rollout and clusterOverlay, which
// only order or shape the selected clusters, are refused without it.
func TestSyncFleetFields(t *testing.T) {
	base := func() *gitopsv1.Sync {
		return &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "fleet-"},
			Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}, Interval: metav1.Duration{Duration: 60e9}}}
	}
	waves := &gitopsv1.RolloutSpec{Waves: []gitopsv1.Wave{{Name: "canary"}}}
	for _, c := range []struct {
		name   string
		edit   func(s *gitopsv1.Sync)
		refuse string
	}{
		{name: "a clusterSelector", edit: func(s *gitopsv1.Sync) {
			s.Spec.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
			s.Spec.Rollout, s.Spec.ClusterOverlay = waves, "./envs/${cluster.name}"
		}},
		{name: "a rollout alone", edit: func(s *gitopsv1.Sync) { s.Spec.Rollout = waves }, refuse: "rollout orders the clusters clusterSelector selects"},
		{name: "an overlay alone", edit: func(s *gitopsv1.Sync) { s.Spec.ClusterOverlay = "./envs" }, refuse: "clusterOverlay is chosen per selected cluster"},
	} {
		s := base()
		c.edit(s)
		err := env.Client.Create(context.Background(), s)
		if c.refuse == "" && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.refuse)
		}
	}
}
