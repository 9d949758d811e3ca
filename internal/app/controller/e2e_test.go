package controller_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/controller"
	appwebhook "github.com/trustsync/trustsync/internal/app/webhook"
	"github.com/trustsync/trustsync/internal/giteatest"
	"github.com/trustsync/trustsync/internal/gittest"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/secretscan"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/waitfor"
)

var (
	env                                   *testenv.Env
	gitea                                 *giteatest.Server
	receiverAddr, metricsAddr, healthAddr string
)

// serverLimits are the controller's server timeouts in these tests: short, so a test of
// them waits little.
var serverLimits = httpserver.Options{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: 2 * time.Second,
	WriteTimeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond}

// scan sees every log line of the controller and webhook these tests run, and, once
// they have passed, every Event, status, commit status and pull-request comment they
// left: none may hold a secret.
var scan = secretscan.New()

func TestMain(m *testing.M) {
	log.SetLogger(scan.Logger())
	// The admission webhooks run too: what the engine applies passes their validation,
	// and the pods of what it applied are injected.
	os.Exit(testenv.RunWith(m, &env, testenv.Options{WebhookPaths: []string{"../../../config/webhook/manifests.yaml"}, AfterTests: scanForSecrets},
		startGitea, startController, startWebhook))
}

// scanForSecrets fails the package when anything the controller said, in the cluster,
// on Gitea or in its logs, holds a secret it was given or wrote.
func scanForSecrets(ctx context.Context, e *testenv.Env) error {
	scan.Secret("the Gitea token", []byte(gitea.Token))
	scan.Secret("the Gitea password", []byte(gitea.Password))
	if err := scan.SweepCluster(ctx, e.Client); err != nil {
		return err
	}
	reported, err := gitea.Reported(ctx)
	if err != nil {
		return err
	}
	for source, text := range reported {
		scan.Text(source, text)
	}
	// A run of some tests only (go test -run) leaves only some kinds of text.
	verdict, err := scan.Verdict([]string{"log", "Event", "Sync", "GitSource", "commit", "comment"}, flag.Lookup("test.run").Value.String() != "")
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, verdict)
	return nil
}

// stopWebhook stops the running webhook server and waits until it has; the drill that
// takes the webhook down calls it, then startWebhook again.
var stopWebhook func()

func startWebhook(ctx context.Context, e *testenv.Env) error {
	p, err := gitopsv1.LoadPlatform("../../../examples/platform.yaml")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	stopWebhook = func() { cancel(); <-done }
	go func() {
		defer close(done)
		// With the certificate envtest made, as with cert-manager's.
		if err := appwebhook.Run(ctx, e.Config, appwebhook.Options{Platform: p, Host: e.Webhook.LocalServingHost, Port: e.Webhook.LocalServingPort,
			CertDir: e.Webhook.LocalServingCertDir, MetricsAddr: "0", HealthAddr: "0"}); err != nil {
			fmt.Fprintln(os.Stderr, "webhook:", err)
		}
	}()
	addr := net.JoinHostPort(e.Webhook.LocalServingHost, fmt.Sprint(e.Webhook.LocalServingPort))
	for range 200 {
		if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // only waiting for the listener
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the webhook server did not start on %s", addr)
}

func startController(ctx context.Context, e *testenv.Env) error {
	for _, addr := range []*string{&receiverAddr, &metricsAddr, &healthAddr} {
		var err error
		if *addr, err = httpservertest.FreeAddr(); err != nil {
			return err
		}
	}
	p, err := gitopsv1.LoadPlatform("../../../examples/platform.yaml")
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "trustsync-e2e-cache-")
	if err != nil {
		return err
	}
	go func() {
		if err := controller.Run(ctx, e.Config, controller.Options{
			Platform:     p,
			MetricsAddr:  metricsAddr,
			HealthAddr:   healthAddr,
			ReceiverAddr: receiverAddr,
			CacheDir:     cache,
			Servers:      serverLimits,
		}); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
		}
		_ = os.RemoveAll(cache)
	}()
	return nil
}

// waitForStatus polls Gitea until the commit has a status of the context in the state.
func waitForStatus(t *testing.T, repo, sha, context, state string) giteatest.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last []giteatest.Status
	for time.Now().Before(deadline) {
		statuses, err := gitea.Statuses(t.Context(), repo, sha)
		if err != nil {
			t.Fatal(err)
		}
		last = statuses
		for _, s := range statuses {
			if s.Context == context {
				if s.State == state {
					return s
				}
				break // newest of this context is something else
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("commit %s never got %s status %q; statuses: %+v", sha[:12], context, state, last)
	return giteatest.Status{}
}

func image(t *testing.T, ns, name string) string {
	t.Helper()
	d := &unstructured.Unstructured{}
	d.SetAPIVersion("apps/v1")
	d.SetKind("Deployment")
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	return containers[0].(map[string]any)["image"].(string)
}

// TestGiteaEndToEnd: commits pushed to a real Gitea reach the cluster through the push
// webhook, and each commit gets its outcome as a commit status — success, a failure with
// the reason (and nothing changed), success again after the fix.
func TestGiteaEndToEnd(t *testing.T) {
	ctx := t.Context()
	cloneURL, err := gitea.CreateRepo(ctx, "agents")
	if err != nil {
		t.Fatal(err)
	}
	auth := gitea.AuthHeader()
	ws := gittest.Clone(t, cloneURL, auth)
	ws.Write(t, example(t, "single-agent"))
	good := ws.Commit(t, "the assistant and its weather tool")
	ws.Push(t)

	const ns = "e2e"
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gitea-token"}, StringData: map[string]string{"token": gitea.Token}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"token": "push-secret"}},
		&gitopsv1.GitSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
			Spec: gitopsv1.GitSourceSpec{
				URL:       cloneURL,
				Ref:       &gitopsv1.GitRef{Branch: "main"},
				Interval:  metav1.Duration{Duration: time.Hour}, // only the webhook brings new commits in time
				SecretRef: &gitopsv1.LocalObjectReference{Name: "git"},
				CommitStatus: &gitopsv1.CommitStatusSpec{
					Provider:  gitopsv1.ProviderGitea,
					SecretRef: gitopsv1.LocalObjectReference{Name: "gitea-token"},
					TargetURL: "http://dashboard.example/syncs/{namespace}/{name}",
				},
				Receiver: &gitopsv1.ReceiverSpec{Type: gitopsv1.ReceiverGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "webhook"}},
			},
		},
		&gitopsv1.Sync{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
			Spec: gitopsv1.SyncSpec{
				SourceRef: gitopsv1.SourceReference{Name: "agents"},
				Path:      "./apps",
				Interval:  metav1.Duration{Duration: time.Hour},
				Prune:     true,
			},
		},
	}
	for _, o := range objects {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := gitea.CreatePushWebhook(ctx, "agents", "http://"+receiverAddr+"/hook/"+ns+"/agents", "push-secret"); err != nil {
		t.Fatal(err)
	}

	const statusContext = "trustsync/e2e/agents"
	st := waitForStatus(t, "agents", good, statusContext, "success")
	// The agents' summary may already be there, or follow in a second success.
	if !strings.HasPrefix(st.Description, "applied 16 objects, 0 drifted") || st.TargetURL != "http://dashboard.example/syncs/e2e/agents" {
		t.Errorf("success status %+v", st)
	}
	if got := image(t, "demo", "weather-tool"); got != "ghcr.io/example/weather-mcp:0.9.2" {
		t.Fatalf("weather-tool image %q", got)
	}

	// A broken commit: a new image for the tool, and an agent with an unknown data plane.
	ws.Write(t, map[string]string{
		"apps/weather-tool.yaml": strings.Replace(example(t, "single-agent")["apps/weather-tool.yaml"], "weather-mcp:0.9.2", "weather-mcp:1.0.0", 1),
		"apps/assistant.yaml":    strings.Replace(example(t, "single-agent")["apps/assistant.yaml"], "  type: agent\n", "  type: agent\n  authBridgeMode: sidecar\n", 1),
	})
	bad := ws.Commit(t, "new weather tool, and a typo")
	ws.Push(t)
	st = waitForStatus(t, "agents", bad, statusContext, "failure")
	if !strings.Contains(st.Description, `apps/assistant.yaml: AgentRuntime demo/assistant: spec.authBridgeMode: unknown value "sidecar"`) {
		t.Errorf("failure status does not give the reason: %q", st.Description)
	}
	if len([]rune(st.Description)) > 140 {
		t.Errorf("description longer than 140 characters: %q", st.Description)
	}
	if got := image(t, "demo", "weather-tool"); got != "ghcr.io/example/weather-mcp:0.9.2" {
		t.Fatalf("the broken commit changed the cluster: weather-tool image %q", got)
	}

	// The fix.
	ws.Write(t, map[string]string{"apps/assistant.yaml": example(t, "single-agent")["apps/assistant.yaml"]})
	fixed := ws.Commit(t, "fix the data plane")
	ws.Push(t)
	waitForStatus(t, "agents", fixed, statusContext, "success")
	if got := image(t, "demo", "weather-tool"); got != "ghcr.io/example/weather-mcp:1.0.0" {
		t.Fatalf("after the fix: weather-tool image %q", got)
	}
	// The commit status is posted during the reconcile, the Sync's status written at its
	// end: wait for that write.
	waitfor.NoError(t, "the fixed revision in the Sync's status", func() error {
		s := &gitopsv1.Sync{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "agents"}, s); err != nil {
			return err
		}
		if s.Status.LastAppliedRevision != "main@sha1:"+fixed || len(s.Status.History) != 3 {
			return fmt.Errorf("status: applied %s, history %+v", s.Status.LastAppliedRevision, s.Status.History)
		}
		return nil
	})
	// One pending and one outcome per commit, and an outcome again only when the agents'
	// summary (which the agent status controller writes after the apply) changes it: an
	// unchanged status is never posted again.
	// How many summaries an apply goes through depends on when each agent becomes
	// ready, so the successes are counted only through what the rule allows: none
	// repeats the one before it.
	for c, want := range map[string]string{good: "(success,)+pending", bad: "failure,pending", fixed: "(success,)+pending"} {
		statuses, err := gitea.Statuses(ctx, "agents", c)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, st := range statuses {
			got = append(got, st.State)
			if i > 0 && st.State == statuses[i-1].State && st.Description == statuses[i-1].Description {
				t.Errorf("commit %s: status %s %q posted twice in a row", c[:12], st.State, st.Description)
			}
		}
		if !regexp.MustCompile("^" + want + "$").MatchString(strings.Join(got, ",")) {
			t.Errorf("commit %s has statuses %v, want %s (newest first)", c[:12], got, want)
		}
	}
}

func startGitea(ctx context.Context, _ *testenv.Env) (err error) {
	gitea, err = giteatest.StartTemp(ctx)
	return err
}

// example is examples/<name> under apps/, as the e2e repositories hold it.
func example(t *testing.T, name string) map[string]string {
	return gittest.ReadTree(t, filepath.Join("../../../examples", name), "apps/")
}
