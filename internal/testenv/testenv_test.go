package testenv

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/renderers/kustomize"
)

var env *Env

func TestMain(m *testing.M) { os.Exit(Run(m, &env)) }

func create(t *testing.T, doc string) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	if u.GetNamespace() == "" && u.GetKind() != "ClusterSPIFFEID" {
		u.SetNamespace("default")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := env.Client.Create(ctx, u)
	return u, err
}

// TestCRDValidation checks the generated CRDs on a real API server: enums, patterns,
// CEL rules and defaults are what the Go types declare.
func TestCRDValidation(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string // empty: accepted
		check   func(t *testing.T, u *unstructured.Unstructured)
	}{
		{
			name: "AgentRuntime defaults",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: ok}\nspec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}}",
			check: func(t *testing.T, u *unstructured.Unstructured) {
				var rt agentv1.AgentRuntime
				fromUnstructured(t, u, &rt)
				if rt.Spec.MTLSMode != agentv1.MTLSPermissive || rt.Spec.TLSBridgeMode != agentv1.TLSBridgeDisabled {
					t.Errorf("defaults: %+v", rt.Spec)
				}
			},
		},
		{
			name:    "AgentRuntime tlsBridge with envoy",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: bridge}\nspec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, authBridgeMode: envoy-sidecar, tlsBridgeMode: enabled}",
			wantErr: "tlsBridgeMode enabled requires authBridgeMode proxy-sidecar or lite",
		},
		{
			name: "AgentRuntime tlsBridge with lite",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: bridge-lite}\nspec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, authBridgeMode: lite, tlsBridgeMode: enabled}",
		},
		{
			name:    "AgentRuntime unknown mode",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: mode}\nspec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, authBridgeMode: sidecar}",
			wantErr: `spec.authBridgeMode: Unsupported value: "sidecar"`,
		},
		{
			name:    "AgentRuntime without type",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentRuntime\nmetadata: {name: notype}\nspec: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}}",
			wantErr: "spec.type: Required value",
		},
		{
			name: "AuthorizationPolicy default scope",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {policies: [{path: inbound/request.rego, content: x}]}",
			check: func(t *testing.T, u *unstructured.Unstructured) {
				if s, _, _ := unstructured.NestedString(u.Object, "spec", "scope"); s != "client" {
					t.Errorf("scope %q", s)
				}
			},
		},
		{
			name:    "AuthorizationPolicy bad path",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: badpath}\nspec: {policies: [{path: /etc/x.rego, content: x}]}",
			wantErr: "spec.policies[0].path",
		},
		{
			name:    "AuthorizationPolicy without policies",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: empty}\nspec: {policies: []}",
			wantErr: "spec.policies",
		},
		{
			name:    "AuthorizationPolicy clientID with a scheme",
			doc:     "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: cid}\nspec: {clientID: 'spiffe://x/ns/a/sa/b', policies: [{path: a.rego, content: x}]}",
			wantErr: "spec.clientID",
		},
		{
			name: "AgentCard default sync period",
			doc:  "apiVersion: agent.kagenti.dev/v1alpha1\nkind: AgentCard\nmetadata: {name: card}\nspec: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}}",
			check: func(t *testing.T, u *unstructured.Unstructured) {
				if s, _, _ := unstructured.NestedString(u.Object, "spec", "syncPeriod"); s != "30s" {
					t.Errorf("syncPeriod %q", s)
				}
			},
		},
		{
			name: "GitSource defaults",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: GitSource\nmetadata: {name: src}\nspec: {url: 'https://git.example/agents.git', ref: {branch: main}}",
			check: func(t *testing.T, u *unstructured.Unstructured) {
				var gs gitopsv1.GitSource
				fromUnstructured(t, u, &gs)
				if gs.Spec.Interval.Duration != time.Minute || gs.Spec.Timeout == nil || gs.Spec.Timeout.Duration != time.Minute {
					t.Errorf("defaults %+v", gs.Spec)
				}
			},
		},
		{
			name:    "GitSource with two refs",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: GitSource\nmetadata: {name: tworefs}\nspec: {url: 'https://git.example/agents.git', ref: {branch: main, tag: v1}}",
			wantErr: "set at most one of branch, tag, semver and commit",
		},
		{
			name:    "GitSource with a bad URL",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: GitSource\nmetadata: {name: badurl}\nspec: {url: 'file:///etc'}",
			wantErr: "spec.url",
		},
		{
			name: "Sync defaults",
			doc:  "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Sync\nmetadata: {name: sync}\nspec: {sourceRef: {name: src}}",
			check: func(t *testing.T, u *unstructured.Unstructured) {
				var s gitopsv1.Sync
				fromUnstructured(t, u, &s)
				if s.Spec.Path != "./" || !s.Spec.Prune || s.Spec.Interval.Duration != 5*time.Minute || s.Spec.SourceRef.Kind != "GitSource" {
					t.Errorf("defaults %+v", s.Spec)
				}
			},
		},
		{
			name:    "Sync unknown drift mode",
			doc:     "apiVersion: gitops.trustsync.dev/v1alpha1\nkind: Sync\nmetadata: {name: drift}\nspec: {sourceRef: {name: src}, drift: {mode: ignore}}",
			wantErr: "spec.drift.mode",
		},
		{
			name: "third-party ClusterSPIFFEID is served",
			doc:  "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: test}\nspec: {spiffeIDTemplate: 'spiffe://td/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}'}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := create(t, tt.doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	data, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}

func TestPlatformNamespaceExists(t *testing.T) {
	var ns unstructured.Unstructured
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: gitopsv1.DefaultPlatformNamespace}, &ns); err != nil {
		t.Fatal(err)
	}
}

// TestInstallBase: the kustomize base users install lists every generated CRD and is
// accepted by the API server.
func TestInstallBase(t *testing.T) {
	root := repoRoot()
	bases, err := os.ReadDir(filepath.Join(root, "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	kust, err := os.ReadFile(filepath.Join(root, "config", "crd", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bases {
		if !strings.Contains(string(kust), "bases/"+b.Name()) {
			t.Errorf("config/crd/kustomization.yaml does not list %s", b.Name())
		}
	}

	objs, err := kustomize.Build(os.DirFS(root), "config/default", kustomize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	crds := 0
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds++
		}
		if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.Unstructured), client.FieldOwner("install-test"), client.ForceOwnership); err != nil {
			t.Errorf("%s: %v", o.Ref(), err)
		}
	}
	if crds != len(bases) {
		t.Errorf("config/default installs %d CRDs, want %d", crds, len(bases))
	}
	// The webhook configurations point at a server this test does not run; with
	// failurePolicy Fail they would refuse the agent objects of later tests.
	for _, o := range objs {
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
			if err := env.Client.Delete(ctx, o.Unstructured); err != nil {
				t.Errorf("%s: %v", o.Ref(), err)
			}
		}
	}

	// Both Deployments mount the generated platform ConfigMap under its hashed name.
	configMaps := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			configMaps[o.GetName()] = true
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			name, found, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name")
			if found && !configMaps[name] {
				t.Errorf("%s mounts ConfigMap %s, which config/default does not install", o.Ref(), name)
			}
		}
	}
}

// TestInstallBundleServer: the bundle-server variant adds the bundle server, with its
// SPIFFE ID and read-only RBAC, and the API server accepts it; it mounts the platform
// ConfigMap the base generates.
func TestInstallBundleServer(t *testing.T) {
	objs, err := kustomize.Build(os.DirFS(repoRoot()), "config/bundle-server", kustomize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	configMaps := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			configMaps[o.GetName()] = true
		}
	}
	var deployments int
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/component"] != "bundle-server" && o.GetName() != "trustsync-bundle-server" {
			continue
		}
		if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.Unstructured), client.FieldOwner("install-test"), client.ForceOwnership, client.DryRunAll); err != nil {
			t.Errorf("%s: %v", o.Ref(), err)
		}
		if o.GetKind() == "Deployment" {
			deployments++
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if name, found, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name"); found && !configMaps[name] {
					t.Errorf("the bundle server mounts ConfigMap %s, which the base does not install", name)
				}
			}
		}
	}
	if deployments != 1 {
		t.Errorf("%d bundle-server Deployments, want 1", deployments)
	}
}

// TestInstallCertManager: the cert-manager variant switches the webhook to files from
// cert-manager's Secret and asks the CA injector for the bundle.
func TestInstallCertManager(t *testing.T) {
	objs, err := kustomize.Build(os.DirFS(repoRoot()), "config/cert-manager", kustomize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sawCert, sawArg int
	for _, o := range objs {
		switch o.GetKind() {
		case "Certificate":
			sawCert++
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			if got := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "trustsync-system/trustsync-webhook" {
				t.Errorf("%s: inject-ca-from = %q", o.Ref(), got)
			}
		case "Deployment":
			if o.GetName() != "trustsync-webhook" {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
			if slices.Contains(args, "--cert-dir=/etc/trustsync/tls") {
				sawArg++
			}
		}
	}
	if sawCert != 1 || sawArg != 1 {
		t.Errorf("config/cert-manager: %d Certificates and %d webhook Deployments with --cert-dir, want 1 and 1", sawCert, sawArg)
	}
}

// TestAPIServerKilledAndStarted: the API server killed alone and started again serves the same
// cluster to the clients of the first one, which fail while it is down.
func TestAPIServerKilledAndStarted(t *testing.T) {
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "before-restart"}, Data: map[string]string{"k": "v"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := env.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	down, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := env.Client.Get(down, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{})
	cancel()
	if err == nil {
		t.Error("a Get succeeded while the API server was stopped")
	}
	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	var got corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &got); err != nil {
		t.Fatalf("the first client after the restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("after the restart the ConfigMap is %v", got.Data)
	}
}
