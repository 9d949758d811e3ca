package examples_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/renametest"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// renderable are the examples that must render; broken must not.
var renderable = []string{"single-agent", "multi-tenant", "modes"}

func platform(t *testing.T) *gitopsv1.Platform {
	t.Helper()
	p, err := gitopsv1.LoadPlatform("platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Kuadrant.Enabled = true // exercise the Kuadrant CR too
	return p
}

func render(t *testing.T, dir string, p *gitopsv1.Platform) *renderers.Result {
	t.Helper()
	return renderIn(t, ".", dir, p)
}

// renderIn renders dir of the tree at root.
func renderIn(t *testing.T, tree, dir string, p *gitopsv1.Platform) *renderers.Result {
	t.Helper()
	root, err := os.OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	res, err := renderers.Render(root.FS(), dir, renderers.Options{Platform: p})
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	return res
}

// TestExamplesAreAcceptedByTheAPIServer server-side applies everything each example
// renders, as a dry run against a real kube-apiserver with the real CRDs: schema,
// CEL rules, strict field validation and admission all take part.
func TestExamplesAreAcceptedByTheAPIServer(t *testing.T) {
	p := platform(t)
	for _, dir := range renderable {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res := render(t, dir, p)
			if len(res.Objects) == 0 {
				t.Fatal("rendered nothing")
			}
			// Namespaced objects can only be dry-run into namespaces that exist.
			for _, o := range res.Objects {
				if o.GetKind() == "Namespace" {
					apply(ctx, t, o)
				}
			}
			kinds := map[string]bool{}
			for _, o := range res.Objects {
				err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					client.FieldOwner("trustsync"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s (from %q) rejected: %v", o.Ref(), o.Source, err)
				}
				kinds[o.GetKind()] = true
			}
			for _, k := range []string{"AgentRuntime", "AuthorizationPolicy", "ClusterSPIFFEID", "ConfigMap", "ServiceAccount", "Kuadrant"} {
				if !kinds[k] {
					t.Errorf("no %s rendered", k)
				}
			}
		})
	}
}

func apply(ctx context.Context, t *testing.T, o *manifest.Object) {
	t.Helper()
	if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("trustsync"), client.ForceOwnership); err != nil {
		t.Fatalf("apply %s: %v", o.Ref(), err)
	}
}

// TestModesExampleCoversEveryMode keeps the modes example honest: it must show every
// data plane and every mTLS mode.
func TestModesExampleCoversEveryMode(t *testing.T) {
	res := render(t, "modes", platform(t))
	modes, mtls := map[string]bool{}, map[string]bool{}
	for _, a := range res.Agents {
		modes[a.Mode] = true
		mtls[a.MTLS] = true
	}
	for _, m := range []string{"proxy-sidecar", "envoy-sidecar", "lite", "waypoint"} {
		if !modes[m] {
			t.Errorf("no agent with authBridgeMode %s", m)
		}
	}
	for _, m := range []string{"disabled", "permissive", "strict"} {
		if !mtls[m] {
			t.Errorf("no agent with mtlsMode %s", m)
		}
	}
}

func TestBrokenExampleFails(t *testing.T) {
	root, err := os.OpenRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	res, err := renderers.Render(root.FS(), "broken", renderers.Options{Platform: platform(t)})
	if err == nil || res != nil {
		t.Fatalf("broken example rendered: %v", res)
	}
	if n := len(manifest.Errors(err)); n != 10 {
		t.Fatalf("want the 10 problems the example's README lists, got %d:\n%v", n, err)
	}
}

// TestKagentiPlatformFile: platform-kagenti.yaml is valid and renders the examples as a
// Kagenti cluster has them: SPIFFE IDs in localtest.me, Keycloak's realm kagenti, and
// the platform's own objects in kagenti-system.
func TestKagentiPlatformFile(t *testing.T) {
	p, err := gitopsv1.LoadPlatform("platform-kagenti.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "kagenti-system" || p.TrustDomain != "localtest.me" || p.Keycloak.Realm != "kagenti" {
		t.Fatalf("platform-kagenti.yaml: namespace %q, trust domain %q, realm %q", p.Namespace, p.TrustDomain, p.Keycloak.Realm)
	}
	res := render(t, "multi-tenant", p)
	var ids, realms int
	for _, o := range res.Objects {
		switch o.GetKind() {
		case "ClusterSPIFFEID":
			tmpl, _, _ := unstructured.NestedString(o.Object, "spec", "spiffeIDTemplate")
			if !strings.HasPrefix(tmpl, "spiffe://localtest.me/") {
				t.Errorf("%s: %s", o.Ref(), tmpl)
			}
			ids++
		case "ConfigMap":
			if v, ok, _ := unstructured.NestedString(o.Object, "data", "KEYCLOAK_REALM"); ok {
				if v != "kagenti" {
					t.Errorf("%s: realm %s", o.Ref(), v)
				}
				realms++
			}
		}
	}
	if ids == 0 || realms == 0 {
		t.Errorf("%d ClusterSPIFFEIDs, %d ConfigMaps naming a realm", ids, realms)
	}
}

// TestRossoctlPlatformFile: platform-rossoctl.yaml is valid and renders the examples,
// rewritten into Rossoctl's names, as a Rossoctl cluster has them: the agents and
// policies of the Kagenti originals, in agent.rossoctl.dev and rossoctl.io/*, the
// platform's own objects in rossoctl-system, Keycloak's realm rossoctl. The dry run
// through the API server takes the Rossoctl CRDs.
func TestRossoctlPlatformFile(t *testing.T) {
	p, err := gitopsv1.LoadPlatform("platform-rossoctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "rossoctl-system" || p.Keycloak.Realm != "rossoctl" || !slices.Equal(p.EnabledFamilies(), []agentv1.Family{agentv1.Rossoctl}) {
		t.Fatalf("platform-rossoctl.yaml: namespace %q, realm %q, families %v", p.Namespace, p.Keycloak.Realm, p.Families)
	}
	tree := renametest.Tree(t, agentv1.Rossoctl, ".")
	for _, dir := range renderable {
		t.Run(dir, func(t *testing.T) {
			original := render(t, dir, platform(t))
			res := renderIn(t, tree, dir, p)
			if len(res.Agents) != len(original.Agents) || len(res.AuthorizationPolicies()) != len(original.AuthorizationPolicies()) {
				t.Fatalf("%d agents and %d policies, the Kagenti original has %d and %d", len(res.Agents), len(res.AuthorizationPolicies()), len(original.Agents), len(original.AuthorizationPolicies()))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// The platform namespace is the installation's, not the render's.
			platformNS := &unstructured.Unstructured{}
			platformNS.SetAPIVersion("v1")
			platformNS.SetKind("Namespace")
			platformNS.SetName(p.Namespace)
			apply(ctx, t, manifest.New(platformNS, ""))
			for _, o := range res.Objects {
				if o.GetKind() == "Namespace" {
					apply(ctx, t, o)
				}
			}
			realms := 0
			for _, o := range res.Objects {
				if strings.Contains(o.GetAPIVersion(), "kagenti") {
					t.Errorf("%s is of %s", o.Ref(), o.GetAPIVersion())
				}
				if v, ok, _ := unstructured.NestedString(o.Object, "data", "KEYCLOAK_REALM"); ok {
					if v != "rossoctl" {
						t.Errorf("%s: realm %s", o.Ref(), v)
					}
					realms++
				}
				if o.GetKind() == "AuthorizationPolicy" && o.Source == "" && o.GetNamespace() != "rossoctl-system" {
					t.Errorf("default global policy in %s", o.GetNamespace())
				}
				err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					client.FieldOwner("trustsync"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s (from %q) rejected: %v", o.Ref(), o.Source, err)
				}
			}
			if realms == 0 {
				t.Error("no ConfigMap names the realm")
			}
		})
	}
}
