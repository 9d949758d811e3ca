package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestEvents: the Events of trustsync's objects, oldest first, without other objects'
// Events; --for narrows to one object; --watch prints what comes after the list.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	const ns = "cli-events"
	now := time.Now()
	event := func(name, apiVersion, kind, object, typ, reason, msg string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			InvolvedObject: corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: object},
			Type:           typ, Reason: reason, Message: msg, LastTimestamp: metav1.NewTime(at), FirstTimestamp: metav1.NewTime(at)}
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		event("e1", "gitops.trustsync.dev/v1alpha1", "Sync", "apps", "Normal", "ReconciliationSucceeded", "29 created", now.Add(-2*time.Minute)),
		event("e2", "agent.kagenti.dev/v1alpha1", "AgentRuntime", "research-agent", "Warning", "SPIREUnavailable", "mTLS requires SPIRE", now.Add(-time.Minute)),
		event("e3", "v1", "Pod", "research-agent-x", "Normal", "Pulled", "image pulled", now),
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, err := run("events", "-n", ns, "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err, errOut)
	}
	sync, agent := strings.Index(out, "Sync/apps"), strings.Index(out, "AgentRuntime/research-agent")
	if sync < 0 || agent < sync || !strings.Contains(out, "SPIREUnavailable") || strings.Contains(out, "Pulled") || !strings.HasPrefix(out, "LAST SEEN") {
		t.Errorf("events:\n%s", out)
	}

	out, _, err = run("events", "-n", ns, "--for", "sync/apps", "--kubeconfig", kubeconfig)
	if err != nil || !strings.Contains(out, "ReconciliationSucceeded") || strings.Contains(out, "research-agent") {
		t.Errorf("--for sync/apps: %v\n%s", err, out)
	}
	if _, errOut, err := run("events", "-n", ns, "--for", "widget/x", "--kubeconfig", kubeconfig); err == nil || !strings.Contains(errOut, "want KIND/NAME") {
		t.Errorf("--for widget/x: %v %s", err, errOut)
	}

	done := make(chan string, 1)
	go func() {
		out, _, _ := run("events", "-n", ns, "--watch", "--timeout", "5s", "--kubeconfig", kubeconfig)
		done <- out
	}()
	time.Sleep(1500 * time.Millisecond)
	if err := env.Client.Create(ctx, event("e4", "gitops.trustsync.dev/v1alpha1", "Sync", "apps", "Warning", "DriftDetected", "1 drifted", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, event("e5", "v1", "Pod", "research-agent-x", "Normal", "Started", "started", time.Now())); err != nil {
		t.Fatal(err)
	}
	out = <-done
	if !strings.Contains(out, "DriftDetected") || strings.Contains(out, "Started") || strings.Count(out, "ReconciliationSucceeded") != 1 {
		t.Errorf("--watch:\n%s", out)
	}
}
