package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/stack"
	"github.com/trustsync/trustsync/internal/testenv"
)

var (
	env        *testenv.Env
	kubeconfig string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env, func(ctx context.Context, e *testenv.Env) error {
		dir, err := os.MkdirTemp("", "cli-test-")
		if err != nil {
			return err
		}
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := stack.WriteKubeconfig(kubeconfig, e); err != nil {
			return err
		}
		go answerReconcileRequests(ctx, e)
		return seed(ctx, e)
	}))
}

// answerReconcileRequests stands in for the controller: it echoes reconcile requests on
// Syncs in namespace cli, as handled and Ready.
func answerReconcileRequests(ctx context.Context, e *testenv.Env) {
	for ctx.Err() == nil {
		var list gitopsv1.SyncList
		if err := e.Client.List(ctx, &list, client.InNamespace("cli")); err == nil {
			for i := range list.Items {
				s := &list.Items[i]
				req := s.GetAnnotations()[gitopsv1.AnnotationReconcileRequestedAt]
				if req != "" && req != s.Status.LastHandledReconcileAt {
					s.Status.LastHandledReconcileAt = req
					conditions.MarkTrue(s, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "Applied revision: main@sha1:%s", strings.Repeat("a", 40))
					_ = e.Client.Status().Update(ctx, s)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func seed(ctx context.Context, e *testenv.Env) error {
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cli"}},
		&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "cli", Name: "repo"}, Spec: gitopsv1.GitSourceSpec{URL: "https://git.example/agents.git"}},
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "cli", Name: "agents"}, Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: "repo"}}},
	} {
		if err := e.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	s := &gitopsv1.Sync{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: "cli", Name: "agents"}, s); err != nil {
		return err
	}
	s.Status.LastAppliedRevision = "main@sha1:" + strings.Repeat("b", 40)
	conditions.MarkTrue(s, gitopsv1.ReadyCondition, gitopsv1.ReasonSucceeded, "Applied revision")
	return e.Client.Status().Update(ctx, s)
}

func TestGet(t *testing.T) {
	out, errOut, err := run("get", "syncs", "-n", "cli", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err, errOut)
	}
	for _, w := range []string{"NAME", "REVISION", "agents", "main@sha1:bbbbbbb", "True"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	out, _, err = run("get", "sources", "-A", "-o", "json", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var list gitopsv1.GitSourceList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) == 0 {
		t.Fatalf("json: %v, %d items", err, len(list.Items))
	}
}

func TestSuspendResume(t *testing.T) {
	for _, verb := range []string{"suspend", "resume"} {
		if _, errOut, err := run(verb, "sync", "agents", "-n", "cli", "--kubeconfig", kubeconfig); err != nil {
			t.Fatal(err, errOut)
		}
		s := &gitopsv1.Sync{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "cli", Name: "agents"}, s); err != nil {
			t.Fatal(err)
		}
		if s.Spec.Suspend != (verb == "suspend") {
			t.Fatalf("after %s: suspend=%t", verb, s.Spec.Suspend)
		}
	}
	if _, errOut, err := run("suspend", "source", "repo", "-n", "cli", "--kubeconfig", kubeconfig); err == nil || !strings.Contains(errOut, "works on syncs") {
		t.Fatalf("suspend source: %v %s", err, errOut)
	}
}

func TestReconcile(t *testing.T) {
	out, errOut, err := run("reconcile", "sync", "agents", "-n", "cli", "--kubeconfig", kubeconfig, "--timeout", "20s")
	if err != nil {
		t.Fatal(err, errOut)
	}
	if !strings.Contains(out, "sync cli/agents: Applied revision: main@sha1:aaaa") {
		t.Fatalf("output %q", out)
	}
	_, errOut, err = run("reconcile", "source", "repo", "-n", "cli", "--kubeconfig", kubeconfig, "--timeout", "1s")
	if err == nil || !strings.Contains(errOut, "is the controller running?") {
		t.Fatalf("without a controller: %v %s", err, errOut)
	}
}
