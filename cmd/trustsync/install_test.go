package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/install"
)

// readYAML splits a YAML stream into objects.
func readYAML(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestInstallExport: --export prints the installation the flags choose, the image
// every container runs included, and talks to no cluster.
func TestInstallExport(t *testing.T) {
	out, _, err := run("install", "--export", "--dashboard", "--image", "registry.local/trustsync:v9.9.9", "--kubeconfig", "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	objs := readYAML(t, out)
	want, err := install.Manifests(install.Options{Dashboard: true, Image: "registry.local/trustsync:v9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(want) {
		t.Fatalf("%d objects exported, want %d", len(objs), len(want))
	}
	if !strings.Contains(out, "name: trustsync-dashboard") || strings.Count(out, "image: registry.local/trustsync:v9.9.9") != 3 {
		t.Errorf("the export lacks the dashboard or the image:\n%.2000s", out)
	}
}

// TestCheckPre: check --pre on a cluster without SPIRE, Istio or a reachable Keycloak
// prints a line for each, warns about SPIRE and Istio, fails on Keycloak with its fix,
// and exits 1; -o json says the same.
func TestCheckPre(t *testing.T) {
	out, _, err := run("check", "--pre", "--kubeconfig", kubeconfig)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("check --pre: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"✔ Kubernetes version: v1.", "✔ RBAC to install", "! SPIRE CSI driver: no CSIDriver csi.spiffe.io", "! Istio ambient", "✗ Keycloak: http://keycloak-service.keycloak.svc:8080/realms/kagenti/", "    fix: check keycloak.url"} {
		if !strings.Contains(out, want) {
			t.Errorf("check --pre lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Controller") {
		t.Errorf("check --pre checked the installation:\n%s", out)
	}
	out, _, _ = run("check", "--pre", "-o", "json", "--kubeconfig", kubeconfig)
	var rs []install.Result
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !install.Failed(rs) || len(rs) < 6 {
		t.Errorf("check --pre -o json: %+v", rs)
	}
}

// TestExport: export prints the namespace's GitSources and Syncs as YAML that applies
// as is elsewhere: no status, nothing the API server added, no run-time annotation.
func TestExport(t *testing.T) {
	if _, _, err := run("reconcile", "sync", "agents", "-n", "cli", "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
	out, _, err := run("export", "-n", "cli", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	objs := readYAML(t, out)
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if strings.Join(got, " ") != "GitSource/repo Sync/agents" {
		t.Errorf("exported %v, want the GitSource, then the Sync", got)
	}
	for _, bad := range []string{"status:", "uid:", "resourceVersion:", "managedFields", "creationTimestamp", "generation:", "reconcile-requested-at"} {
		if strings.Contains(out, bad) {
			t.Errorf("the export has %q:\n%s", bad, out)
		}
	}
	// What was exported creates the same objects in another namespace.
	ctx := t.Context()
	for _, o := range objs {
		o.SetNamespace("default")
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("restoring %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
	}
}
