package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/app/dashboard"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/renderers/kustomize"
)

// TestInstalledRBACSuffices: config/dashboard installs the dashboard with a read-only
// ClusterRole (no write verb, no Secrets), and a dashboard running as its ServiceAccount
// shows a Sync page whole: every applied object's health read, the Events listed.
func TestInstalledRBACSuffices(t *testing.T) {
	key := syncTenants(t)
	ctx := t.Context()
	objs, err := kustomize.Build(os.DirFS("../../.."), "config/dashboard", kustomize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var deployments int
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/component"] != "dashboard" && o.GetName() != "trustsync-dashboard" && o.GetName() != "trustsync-system" {
			continue
		}
		switch o.GetKind() {
		case "ClusterRole":
			role := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
				t.Fatal(err)
			}
			for _, r := range role.Rules {
				if slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) || slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*") {
					t.Errorf("the dashboard's ClusterRole grants %v on %v", r.Verbs, r.Resources)
				}
			}
		case "Deployment":
			deployments++
		}
		if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.Unstructured), client.FieldOwner("install-test")); err != nil {
			t.Fatalf("%s: %v", o.Ref(), err)
		}
	}
	if deployments != 1 {
		t.Errorf("%d dashboard Deployments, want 1", deployments)
	}

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:trustsync-system:trustsync-dashboard"}
	addr, err := httpservertest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := gitopsv1.LoadPlatform("../../../examples/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.New(cfg, dashboard.Options{Addr: addr, Platform: p})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	if err := waitServing(ctx, "http://"+addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/syncs/" + key.Namespace + "/" + key.Name)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Applied revision") {
		t.Fatalf("%d: %.400s", resp.StatusCode, page)
	}
	for _, bad := range []string{"forbidden", "cannot be watched", "cannot be read", ">Unknown<"} {
		if strings.Contains(page, bad) {
			i := strings.Index(page, bad)
			t.Errorf("the Sync page, read with the installed RBAC, shows %q: …%s…", bad, page[max(0, i-200):min(len(page), i+100)])
		}
	}
	if !strings.Contains(page, "ReconciliationSucceeded") {
		t.Error("no Events on the Sync page read with the installed RBAC")
	}
}

// TestInstalledActionsRBAC: config/dashboard-actions lets the dashboard's
// ServiceAccount impersonate users and groups and nothing more (no service accounts,
// UIDs or extras, no write of its own), and its Deployment turns sign-in and actions on.
func TestInstalledActionsRBAC(t *testing.T) {
	ctx := t.Context()
	objs, err := kustomize.Build(os.DirFS("../../.."), "config/dashboard-actions", kustomize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, o := range objs {
		switch {
		case o.GetKind() == "ClusterRole" && o.GetName() == "trustsync-dashboard-impersonate":
			role := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
				t.Fatal(err)
			}
			for _, r := range role.Rules {
				if !slices.Equal(r.Verbs, []string{"impersonate"}) || slices.ContainsFunc(r.Resources, func(res string) bool { return res != "users" && res != "groups" }) {
					t.Errorf("the impersonation role grants %v on %v", r.Verbs, r.Resources)
				}
			}
		case o.GetKind() == "Deployment" && o.GetName() == "trustsync-dashboard":
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d); err != nil {
				t.Fatal(err)
			}
			args = d.Spec.Template.Spec.Containers[0].Args
		}
		if o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding" {
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.Unstructured), client.FieldOwner("install-test")); err != nil {
				t.Fatalf("%s: %v", o.Ref(), err)
			}
		}
	}
	for _, want := range []string{"--actions", "--oidc-issuer=", "--oidc-client-secret-file=", "--public-url="} {
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, want) }) {
			t.Errorf("the Deployment's args %v lack %s", args, want)
		}
	}
	sa := "system:serviceaccount:trustsync-system:trustsync-dashboard"
	for _, tc := range []struct {
		resource string
		allowed  bool
	}{{"users", true}, {"groups", true}, {"serviceaccounts", false}, {"uids", false}, {"userextras", false}} {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: sa, ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: "impersonate", Resource: tc.resource, Name: "oidc:alice",
		}}}
		if err := env.Client.Create(ctx, review); err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != tc.allowed {
			t.Errorf("the dashboard may impersonate %s: %v, want %v", tc.resource, review.Status.Allowed, tc.allowed)
		}
	}
}
