package testenv

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
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
