package syncs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/agentstatus"
)

// startAgentStatus runs the real AgentRuntime status controller until the test ends.
func startAgentStatus(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := gitopsv1.LoadPlatform("../../examples/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &agentstatus.Reconciler{Client: mgr.GetClient(), Platform: agentstatus.StaticPlatform{P: p}}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("agentstatus manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

const summaryAgents = `apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME, namespace: summary-team}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec: {containers: [{name: agent, image: example/agent:1, ports: [{containerPort: 8000}]}]}
---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: NAME, namespace: summary-team}
spec: {type: agent, mtlsMode: MTLS, targetRef: {apiVersion: apps/v1, kind: Deployment, name: NAME}}
`

// TestSyncSummarisesAgents: once the agents' conditions are written — after the apply —
// the Sync looks again by itself, mirrors each agent's Ready, and its Ready message and
// commit status name the first problem. Reconciling again then writes nothing.
func TestSyncSummarisesAgents(t *testing.T) {
	src, s := setup(t, "summary", nil)
	files := map[string]string{"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: summary-team}\n"}
	for name, mtls := range map[string]string{"planner": "permissive", "chat": "disabled"} {
		files[name+".yaml"] = strings.NewReplacer("NAME", name, "MTLS", mtls).Replace(summaryAgents)
	}
	store.publish(t, src, repo(t, files), "a1")
	applied := waitFor(t, s, "applied", readyAt("a1"))
	if msg := conditions.GetMessage(applied, gitopsv1.ReadyCondition); msg != "Applied revision: main@sha1:a1" {
		t.Fatalf("before any agent status, the Ready message is %q", msg)
	}
	reports := reporter.of(s)
	if len(reports) != 2 || !strings.HasPrefix(reports[1], "a1|success|applied ") || strings.Contains(reports[1], "agents") {
		t.Fatalf("reports before any agent status: %q", reports)
	}

	startAgentStatus(t)
	want := "Applied revision: main@sha1:a1; 2/2 agents ready; summary-team/planner: MTLSReady=False SPIREUnavailable"
	summarised := waitFor(t, s, "the agent summary", func(s *gitopsv1.Sync) bool {
		return conditions.GetMessage(s, gitopsv1.ReadyCondition) == want
	})
	byName := map[string]gitopsv1.AgentSummary{}
	for _, a := range summarised.Status.Agents {
		byName[a.Name] = a
	}
	if a := byName["planner"]; a.Ready != "True" || a.Message != "MTLSReady=False SPIREUnavailable: "+agentstatus.MessageSPIREUnavailable {
		t.Errorf("planner %+v", a)
	}
	if a := byName["chat"]; a.Ready != "True" || a.Message != "" {
		t.Errorf("chat %+v", a)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		reports = reporter.of(s)
		last := reports[len(reports)-1]
		if strings.HasPrefix(last, "a1|success|applied ") && strings.HasSuffix(last, ", 0 drifted; 2/2 agents ready; summary-team/planner: MTLSReady=False SPIREUnavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the commit status was not updated with the agents: %q", reports)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Nothing new: no write, no new report.
	requests.Reset()
	before := len(reporter.of(s))
	annotate(t, s, "again")
	latest := waitFor(t, s, "the requested reconcile", func(s *gitopsv1.Sync) bool { return s.Status.LastHandledReconcileAt == "again" })
	if w := requests.Writes(); w != 0 {
		t.Fatalf("a reconcile with nothing new sent %d writes", w)
	}
	if conditions.GetMessage(latest, gitopsv1.ReadyCondition) != want || len(reporter.of(s)) != before {
		t.Fatalf("a reconcile with nothing new changed the summary: %q, reports %q", conditions.GetMessage(latest, gitopsv1.ReadyCondition), reporter.of(s))
	}
}

func TestAgentReport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rep    agentReport
		suffix string
		state  State
	}{
		{name: "no agents", rep: agentReport{}, suffix: "", state: Success},
		{name: "none evaluated yet", rep: agentReport{total: 2}, suffix: "", state: Success},
		{name: "all ready", rep: agentReport{total: 2, reported: 2, ready: 2}, suffix: "; 2/2 agents ready", state: Success},
		{
			name:   "ready with an informational problem",
			rep:    agentReport{total: 4, reported: 4, ready: 4, problems: []string{"team-b/planner-agent: MTLSReady=False SPIREUnavailable"}},
			suffix: "; 4/4 agents ready; team-b/planner-agent: MTLSReady=False SPIREUnavailable", state: Success,
		},
		{
			name:   "one not ready, two problems",
			rep:    agentReport{total: 4, reported: 4, ready: 3, notReady: 1, problems: []string{"team-a/x: TargetResolved=False TargetNotFound", "team-b/y: MTLSReady=False SPIREUnavailable"}},
			suffix: "; 3/4 agents ready; team-a/x: TargetResolved=False TargetNotFound (+1 more)", state: Failure,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rep.suffix(); got != tc.suffix {
				t.Errorf("suffix %q, want %q", got, tc.suffix)
			}
			if got := tc.rep.state(); got != tc.state {
				t.Errorf("state %s, want %s", got, tc.state)
			}
		})
	}
}

func TestAgentsOfDescription(t *testing.T) {
	a := "c1\x00success\x00applied 3 objects, 0 drifted; 2/2 agents ready"
	b := "c1\x00success\x00applied 3 objects, 1 drifted; 2/2 agents ready"
	c := "c1\x00success\x00applied 3 objects, 0 drifted; 1/2 agents ready; ns/x: Ready=False ConfigError"
	if agentsOfDescription(a) != agentsOfDescription(b) {
		t.Error("a changed drift count counts as a change of the agents")
	}
	if agentsOfDescription(a) == agentsOfDescription(c) {
		t.Error("a change of the agents is not seen")
	}
	if agentsOfDescription("c1\x00success\x00applied 3 objects, 0 drifted") != "" {
		t.Error("a description without agents has an agent part")
	}
}
