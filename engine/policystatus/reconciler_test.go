package policystatus_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/policystatus"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/policy"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func ap(ns, name string, scope agentv1.PolicyScope, files ...string) *agentv1.AuthorizationPolicy {
	p := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: agentv1.AuthorizationPolicySpec{Scope: scope}}
	for i := 0; i+1 < len(files); i += 2 {
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: files[i], Content: files[i+1]})
	}
	return p
}

const plannerTest = `package t

test_research_agent_may_call if {
	data.authbridge.inbound.request.allow with input as {"identity": {"client_id": "research"}}
}
`

// TestPolicyStatus: Ready, bundleHash and lastBuilt for good policies; CompileFailed
// and TestFailed with file and line; NotHonoured for a stray global policy; a tier
// mate's change re-checks a policy; a settled policy is not written again.
func TestPolicyStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:     env.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &policystatus.Reconciler{Client: mgr.GetClient(), PlatformNamespace: gitopsv1.DefaultPlatformNamespace}
	if err := r.SetupWithManager(context.Background(), mgr); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})

	c := env.Client
	ns := "ps-team"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	global := policy.DefaultGlobalPolicy(gitopsv1.DefaultPlatformNamespace, false)
	nsPolicy := ap(ns, "team", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\n\ndefault allow := false\n\nallow if input.identity.client_id == \"research\"\n")
	planner := ap(ns, "planner", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow := true\n", "inbound/request_test.rego", plannerTest)
	broken := ap(ns, "broken", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\ndefault allow := false\ndefault allow := true\n")
	failing := ap(ns, "failing", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow := false\n", "inbound/request_test.rego", plannerTest)
	stray := policy.DefaultGlobalPolicy(ns, false)
	stray.Name = "stray"
	for _, p := range []*agentv1.AuthorizationPolicy{global, nsPolicy, planner, broken, failing, stray} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	want := []struct {
		ns, name, reason, msg string
		status                metav1.ConditionStatus
	}{
		{gitopsv1.DefaultPlatformNamespace, "default", policystatus.ReasonBuilt, "compiled with its tier", metav1.ConditionTrue},
		{ns, "team", policystatus.ReasonBuilt, "compiled with its tier", metav1.ConditionTrue},
		{ns, "planner", policystatus.ReasonBuilt, "1 tests passed", metav1.ConditionTrue},
		{ns, "broken", policystatus.ReasonCompileFailed, "inbound/request.rego:4", metav1.ConditionFalse},
		{ns, "failing", policystatus.ReasonTestFailed, "inbound/request_test.rego:3: test test_research_agent_may_call failed", metav1.ConditionFalse},
		{ns, "stray", policystatus.ReasonNotHonoured, "honoured only in the platform namespace", metav1.ConditionFalse},
	}
	for _, w := range want {
		got := waitFor(t, ctx, w.ns, w.name, func(p *agentv1.AuthorizationPolicy) bool {
			cond := meta.FindStatusCondition(p.Status.Conditions, agentv1.ConditionReady)
			return cond != nil && cond.Reason == w.reason && cond.Status == w.status && strings.Contains(cond.Message, w.msg)
		})
		if w.status == metav1.ConditionTrue {
			if got.Status.BundleHash != policy.PolicyHash(got) || got.Status.LastBuilt == nil || got.Status.ObservedGeneration != got.Generation {
				t.Errorf("%s/%s: status %+v", w.ns, w.name, got.Status)
			}
		}
	}

	// A settled policy is not written again.
	settled := get(t, ctx, ns, "planner")
	time.Sleep(time.Second)
	if again := get(t, ctx, ns, "planner"); again.ResourceVersion != settled.ResourceVersion {
		t.Errorf("planner written again without a change: %s → %s", settled.ResourceVersion, again.ResourceVersion)
	}

	// The namespace tier stops admitting research: planner's test now fails, though
	// planner itself did not change.
	nsNow := get(t, ctx, ns, "team")
	nsNow.Spec.Policies[0].Content = "package authbridge.ns.inbound.request\n\ndefault allow := false\n"
	if err := c.Update(ctx, nsNow); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, ns, "planner", func(p *agentv1.AuthorizationPolicy) bool {
		cond := meta.FindStatusCondition(p.Status.Conditions, agentv1.ConditionReady)
		return cond != nil && cond.Reason == policystatus.ReasonTestFailed
	})
}

func get(t *testing.T, ctx context.Context, ns, name string) *agentv1.AuthorizationPolicy {
	t.Helper()
	p := &agentv1.AuthorizationPolicy{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, _ context.Context, ns, name string, ok func(*agentv1.AuthorizationPolicy) bool) *agentv1.AuthorizationPolicy {
	t.Helper()
	return waitfor.Object(t, env.Client, types.NamespacedName{Namespace: ns, Name: name}, "the status of AuthorizationPolicy "+ns+"/"+name, ok)
}
