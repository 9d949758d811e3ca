package testenv

import (
	"context"
	"embed"
	"fmt"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
)

//go:embed crds/*.yaml
var thirdPartyCRDs embed.FS

// Env is a running control plane.
type Env struct {
	env *envtest.Environment
	// certDir holds the API server's certificates, kept across StopAPIServer and
	// StartAPIServer and removed by Stop.
	certDir string
	Config  *rest.Config
	Client  client.Client
	Scheme  *k8sruntime.Scheme
	// Webhook says where the API server calls admission webhooks: serve them on its
	// LocalServingHost and LocalServingPort with the certificate in LocalServingCertDir.
	// Set when Options.WebhookPaths are given.
	Webhook *envtest.WebhookInstallOptions
}

// Options configure a control plane.
type Options struct {
	// WebhookPaths are files of webhook configurations to install, re-pointed at a local
	// server (see Env.Webhook).
	WebhookPaths []string
	// Webhooks are more configurations to install the same way.
	MutatingWebhooks []*admissionregistrationv1.MutatingWebhookConfiguration
	// AfterTests runs once the tests have passed, with everything still running, e.g.
	// the secret scan of what they left behind; an error fails the package.
	AfterTests func(ctx context.Context, e *Env) error
}

// Scheme knows the built-in kinds and trustsync's.
func Scheme() *k8sruntime.Scheme { return apischeme.New() }

// AssetsDir finds the envtest binaries.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "trustsync", "envtest")
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("envtest binary %s not found in %s; build the local control plane with `make tools` (hack/envtest-assets.sh %s) or point KUBEBUILDER_ASSETS at it", bin, dir, dir)
		}
	}
	return dir, nil
}

// repoRoot is the root of the trustsync repository, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start starts a control plane with all CRDs installed and the platform namespace
// created.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith starts a control plane as Start does, with options.
func StartWith(o Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	crds, err := loadThirdPartyCRDs()
	if err != nil {
		return nil, err
	}
	scheme := Scheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases"), filepath.Join(repoRoot(), "config", "crd", "rossoctl")},
		CRDs:                  crds,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	if len(o.WebhookPaths) > 0 || len(o.MutatingWebhooks) > 0 {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: o.WebhookPaths, MutatingWebhooks: o.MutatingWebhooks, LocalServingHost: "127.0.0.1"}
	}
	// A cluster-sized Service range: envtest's default /24 holds about 250 Services.
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	// A certificate folder of its own, which envtest keeps when the API server stops, so
	// that it starts again with the certificates its clients trust (StartAPIServer).
	certDir, err := os.MkdirTemp("", "envtest-apiserver-")
	if err != nil {
		return nil, err
	}
	apiServer.CertDir = certDir
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, err
	}
	e := &Env{env: env, certDir: certDir, Config: cfg, Client: c, Scheme: scheme}
	if len(o.WebhookPaths) > 0 || len(o.MutatingWebhooks) > 0 {
		e.Webhook = &env.WebhookInstallOptions
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gitopsv1.DefaultPlatformNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("creating the platform namespace: %w", err)
	}
	return e, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	err := e.env.Stop()
	_ = os.RemoveAll(e.certDir)
	return err
}

// KillAPIServer kills the API server alone with SIGKILL, as a crash would; etcd keeps
// the cluster's state. (A SIGTERM waits for the clients' open requests to end, up to
// envtest's stop timeout.)
func (e *Env) KillAPIServer() error {
	pid, err := apiServerPID(e.certDir)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing kube-apiserver %d: %w", pid, err)
	}
	return e.env.ControlPlane.APIServer.Stop() // reaps it
}

// StartAPIServer starts the API server again after KillAPIServer, on the same address
// and with the same certificates and users: its clients reconnect by themselves.
func (e *Env) StartAPIServer() error { return e.env.ControlPlane.APIServer.Start() }

// apiServerPID finds the kube-apiserver process whose arguments name certDir, the
// folder of this Env alone.
func apiServerPID(certDir string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "kube-apiserver" && slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, certDir) }) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no kube-apiserver process with %s in its arguments", certDir)
}

// Hook starts something beside the control plane (a controller under test); it runs
// until ctx is cancelled, which happens before the control plane stops.
type Hook func(ctx context.Context, env *Env) error

// Run is the body of a TestMain: it starts the control plane and the hooks, runs the
// tests and stops everything. When something cannot start, the package fails with the
// reason.
func Run(m *testing.M, env **Env, hooks ...Hook) int { return RunWith(m, env, Options{}, hooks...) }

// RunWith is Run with options for the control plane.
func RunWith(m *testing.M, env **Env, o Options, hooks ...Hook) int {
	e, err := StartWith(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	*env = e
	ctx, cancel := context.WithCancel(context.Background())
	code := 1
	for _, h := range hooks {
		if err = h(ctx, e); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: starting a test hook: %v\n", err)
			break
		}
	}
	if err == nil {
		code = m.Run()
	}
	if code == 0 && o.AfterTests != nil {
		if err := o.AfterTests(ctx, e); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: after the tests: %v\n", err)
			code = 1
		}
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // let the hooks wind down before the API server goes
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
	}
	return code
}

func loadThirdPartyCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := thirdPartyCRDs.ReadDir("crds")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		data, err := thirdPartyCRDs.ReadFile("crds/" + e.Name())
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("crds/%s: %w", e.Name(), err)
		}
		out = append(out, crd)
	}
	return out, nil
}

// Kubeconfig is a kubeconfig of the control plane with its admin credentials inline, as
// Cluster API writes a cluster's: what a hub reads from a member's Secret.
func (e *Env) Kubeconfig() ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData, Token: e.Config.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	return clientcmd.Write(*cfg)
}
