package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	appwebhook "github.com/trustsync/trustsync/internal/app/webhook"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/policy"
	"github.com/trustsync/trustsync/webhook"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env, startRun)) }

// limits are the servers' timeouts in these tests: short, so a test of them waits little.
var limits = httpserver.Options{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second,
	WriteTimeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond}

// The addresses of the webhook.Run instance startRun starts.
var webhookAddr, webhookMetrics, webhookHealth string

// mainTB makes certificates outside any test: it panics.
type mainTB struct{}

func (mainTB) Helper()           {}
func (mainTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// startRun starts `trustsync webhook` as the command does (webhook.Run), with a
// certificate of its own in a cert dir. The API server does not call it; the tests
// do, as a stranger or a confused client would.
func startRun(ctx context.Context, e *testenv.Env) error {
	dir, err := os.MkdirTemp("", "trustsync-webhook-certs-")
	if err != nil {
		return err
	}
	cert := x509test.New(mainTB{}, x509test.Options{CommonName: "trustsync-webhook"})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), cert.CertPEM(), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), cert.KeyPEM(mainTB{}), 0o600); err != nil {
		return err
	}
	for _, a := range []*string{&webhookAddr, &webhookMetrics, &webhookHealth} {
		if *a, err = httpservertest.FreeAddr(); err != nil {
			return err
		}
	}
	host, port, _ := net.SplitHostPort(webhookAddr)
	portNum, _ := strconv.Atoi(port)
	go func() {
		defer os.RemoveAll(dir)
		if err := appwebhook.Run(ctx, e.Config, appwebhook.Options{Host: host, Port: portNum, CertDir: dir,
			MetricsAddr: webhookMetrics, HealthAddr: webhookHealth, Servers: limits}); err != nil {
			fmt.Fprintln(os.Stderr, "webhook.Run:", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + webhookHealth + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook.Run did not become ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runWebhook is the address of the webhook.Run instance and a client for it.
func runWebhook(t *testing.T) (addr string, client *http.Client) {
	t.Helper()
	// Only the request handling is under test here, not the server's identity.
	return webhookAddr, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
}

func review(kind, resource, op string, object string) string {
	group, version := "", "v1"
	if resource != "pods" {
		group, version = "agent.kagenti.dev", "v1alpha1"
	}
	r := map[string]any{
		"uid":       "5c1f9a2e-0d7e-4c1b-9a54-2f5b8f0e7c11",
		"kind":      map[string]string{"group": group, "version": version, "kind": kind},
		"resource":  map[string]string{"group": group, "version": version, "resource": resource},
		"namespace": "team-a", "operation": op,
		"userInfo": map[string]any{"username": "someone"},
	}
	if object != "" {
		r["object"] = json.RawMessage(object)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": r})
	return string(b)
}

// TestMalformedAdmissionRequests: each webhook refuses, with a message saying why, what
// its configuration never sends — and still admits what it does.
func TestMalformedAdmissionRequests(t *testing.T) {
	addr, client := runWebhook(t)
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team-a"},"spec":{"containers":[{"name":"c","image":"x"}]}}`
	runtime := `{"apiVersion":"agent.kagenti.dev/v1alpha1","kind":"AgentRuntime","metadata":{"name":"r","namespace":"team-a"},"spec":{"type":"agent","targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"r"}}}`
	rego := "package " + policy.Package(agentv1.ScopeClient, policy.Points[0]) + "\n\nimport rego.v1\n\nallow if input.identity.client_id != \"\"\n"
	ap, _ := json.Marshal(agentv1.AuthorizationPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "agent.kagenti.dev/v1alpha1", Kind: "AuthorizationPolicy"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p"},
		Spec:       agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{{Path: policy.Points[0].File(), Content: rego}}}})
	policy := string(ap)
	noRequest := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`
	for _, tc := range []struct {
		name, path, body, contentType string
		allowed                       bool
		message                       string
	}{
		{"review without request to the injector", webhook.PathInject, noRequest, "", false, "no request"},
		{"review without request to the AgentRuntime validator", webhook.PathValidateAgentRuntime, noRequest, "", false, "no request"},
		{"review without request to the policy validator", webhook.PathValidateAuthorizationPolicy, noRequest, "", false, "no request"},
		{"pod to the AgentRuntime validator", webhook.PathValidateAgentRuntime, review("Pod", "pods", "CREATE", pod), "", false, "kind v1 Pod, want agent.kagenti.dev/v1alpha1 AgentRuntime"},
		{"pod to the policy validator", webhook.PathValidateAuthorizationPolicy, review("Pod", "pods", "CREATE", pod), "", false, "kind v1 Pod, want agent.kagenti.dev/v1alpha1 AuthorizationPolicy"},
		{"AgentRuntime to the injector", webhook.PathInject, review("AgentRuntime", "agentruntimes", "CREATE", runtime), "", false, "kind agent.kagenti.dev/v1alpha1 AgentRuntime, want v1 Pod"},
		{"policy to the AgentRuntime validator", webhook.PathValidateAgentRuntime, review("AuthorizationPolicy", "authorizationpolicies", "CREATE", policy), "", false, "want agent.kagenti.dev/v1alpha1 AgentRuntime"},
		{"pod deletion to the injector", webhook.PathInject, review("Pod", "pods", "DELETE", pod), "", false, `operation "DELETE", want CREATE`},
		{"pod update to the injector", webhook.PathInject, review("Pod", "pods", "UPDATE", pod), "", false, `operation "UPDATE", want CREATE`},
		{"AgentRuntime deletion", webhook.PathValidateAgentRuntime, review("AgentRuntime", "agentruntimes", "DELETE", runtime), "", false, `operation "DELETE", want CREATE or UPDATE`},
		{"pod creation without object", webhook.PathInject, review("Pod", "pods", "CREATE", ""), "", false, "no object"},
		{"unparsable review", webhook.PathInject, `{"request":`, "", false, "unexpected"},
		{"not JSON", webhook.PathValidateAgentRuntime, review("AgentRuntime", "agentruntimes", "CREATE", runtime), "text/plain", false, "contentType=text/plain"},
		{"a plain pod is admitted", webhook.PathInject, review("Pod", "pods", "CREATE", pod), "", true, ""},
		{"a valid policy is admitted", webhook.PathValidateAuthorizationPolicy, review("AuthorizationPolicy", "authorizationpolicies", "CREATE", policy), "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			resp, err := client.Post("https://"+addr+tc.path, ct, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got admissionv1.AdmissionReview
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &got); err != nil || got.Response == nil {
				t.Fatalf("HTTP %d, not an AdmissionReview with a response: %q", resp.StatusCode, b)
			}
			msg := ""
			if got.Response.Result != nil {
				msg = got.Response.Result.Message
			}
			if got.Response.Allowed != tc.allowed || !strings.Contains(msg, tc.message) {
				t.Errorf("allowed=%v %q, want allowed=%v with %q", got.Response.Allowed, msg, tc.allowed, tc.message)
			}
		})
	}
}

// TestWebhookServersCloseHeldConnections: the webhook port (TLS), the metrics and the
// probe ports drop trickled headers and bodies and idle keep-alives.
func TestWebhookServersCloseHeldConnections(t *testing.T) {
	addr, _ := runWebhook(t)
	const margin = 5 * time.Second
	insecure := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} //nolint:gosec // only the timeouts are under test
	for _, srv := range []struct {
		name      string
		dial      httpservertest.Dial
		get, post string
	}{
		{"webhook", httpservertest.TLS(addr, insecure), "/", webhook.PathValidateAuthorizationPolicy},
		{"metrics", httpservertest.TCP(webhookMetrics), "/metrics", "/metrics"},
		{"health", httpservertest.TCP(webhookHealth), "/healthz", "/healthz"},
	} {
		t.Run(srv.name, func(t *testing.T) {
			httpservertest.ClosesTrickledHeaders(t, srv.dial, limits.ReadHeaderTimeout+margin)
			httpservertest.ClosesTrickledBody(t, srv.dial, srv.post, limits.ReadTimeout+margin)
			httpservertest.ClosesIdle(t, srv.dial, srv.get, limits.IdleTimeout+margin)
		})
	}
}

// TestWebhookMetricsServed: the webhook's own metrics are on its metrics port.
func TestWebhookMetricsServed(t *testing.T) {
	addr, client := runWebhook(t)
	resp, err := client.Post("https://"+addr+webhook.PathInject, "application/json", bytes.NewReader([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m, err := http.Get("http://" + webhookMetrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	b, _ := io.ReadAll(m.Body)
	if !strings.Contains(string(b), `trustsync_webhook_refusals_total{reason="malformed",webhook="pod injection"}`) {
		t.Errorf("no refusal metric among:\n%.2000s", b)
	}
}
