package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// seedAgents stands in for the engine: two AgentRuntimes with the conditions the status
// controller writes, and a Sync in another namespace whose status knows their SPIFFE IDs.
func seedAgents(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	for _, ns := range []string{"cli-agents", "cli-gitops"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(rt *agentv1.AgentRuntime, conds ...metav1.Condition) {
		for _, cond := range conds {
			cond.LastTransitionTime = metav1.Now()
			meta.SetStatusCondition(&rt.Status.Conditions, cond)
		}
		if err := c.Status().Update(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"planner", "chat"} {
		rt := &agentv1.AgentRuntime{
			ObjectMeta: metav1.ObjectMeta{Namespace: "cli-agents", Name: name},
			Spec:       agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name}},
		}
		if name == "chat" {
			rt.Spec.MTLSMode = agentv1.MTLSDisabled
		}
		if err := c.Create(ctx, rt); err != nil {
			t.Fatal(err)
		}
		ready := metav1.Condition{Type: agentv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Configured", Message: "Deployment cli-agents/" + name + " configured with config-hash 0123456789ab"}
		if name == "planner" {
			set(rt, ready, metav1.Condition{Type: agentv1.ConditionMTLSReady, Status: metav1.ConditionFalse, Reason: "SPIREUnavailable", Message: "mTLS requires SPIRE; either deploy SPIRE or set mTLSMode: disabled"})
		} else {
			set(rt, ready, metav1.Condition{Type: agentv1.ConditionMTLSReady, Status: metav1.ConditionTrue, Reason: "MTLSDisabled", Message: "mTLS between sidecars is disabled"})
		}
	}
	s := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "cli-gitops", Name: "agents"}, Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}}}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Status.Agents = []gitopsv1.AgentSummary{{Namespace: "cli-agents", Name: "planner", Type: "agent", Workload: "Deployment/planner", SPIFFEID: "spiffe://example.org/ns/cli-agents/sa/planner"}}
	if err := c.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func TestGetAgents(t *testing.T) {
	seedAgents(t)
	out, errOut, err := run("get", "agents", "-n", "cli-agents", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err, errOut)
	}
	t.Logf("trustsync get agents -n cli-agents:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two rows:\n%s", out)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME TYPE WORKLOAD READY MTLS SPIFFE ID MESSAGE" {
		t.Errorf("header %q", lines[0])
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		rows[strings.Fields(l)[0]] = l
	}
	for name, want := range map[string][]string{
		"planner": {"agent", "Deployment/planner", "True", "permissive (SPIREUnavailable)", "spiffe://example.org/ns/cli-agents/sa/planner", "MTLSReady=False SPIREUnavailable: mTLS requires SPIRE; either deploy SPIRE or set mTLSMode: disabled"},
		"chat":    {"Deployment/chat", "True", "disabled", "Deployment cli-agents/chat configured with config-hash 0123456789ab"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[name], w) {
				t.Errorf("row of %s lacks %q:\n%s", name, w, out)
			}
		}
	}
	if strings.Contains(rows["chat"], "(") {
		t.Errorf("chat's mTLS is fine but flagged:\n%s", out)
	}

	out, _, err = run("get", "agents", "-A", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "cli-agents  planner") {
		t.Errorf("-A:\n%s", out)
	}

	out, _, err = run("get", "agents", "-n", "cli-agents", "-o", "json", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var list agentv1.AgentRuntimeList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 2 || len(list.Items[0].Status.Conditions) != 2 {
		t.Fatalf("json: %v, %+v", err, list.Items)
	}
}
