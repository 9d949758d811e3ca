package dashboard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// signedInTab is a tab in a browser context of its own (its own cookies), signed in
// as u through the provider's login form from the Sync page at path.
func signedInTab(t *testing.T, path string, u string, password string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// A tab lives through sign-in and several rounds of the controller: on a loaded CI
	// machine that is more than tab's 90 s.
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+path)); err != nil {
		t.Fatal(err)
	}
	if got := text(ctx, t, ".actions"); !strings.Contains(got, "Sign in to reconcile, suspend or resume") {
		t.Fatalf("signed out, the actions say %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#kc-form-login")),
		chromedp.SendKeys(chromedp.CSS("#username"), u),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#kc-login")),
		chromedp.WaitVisible(chromedp.CSS("#user")),
	); err != nil {
		t.Fatalf("signing in as %s: %v", u, err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, path) {
		t.Fatalf("after signing in the tab is at %q, not back at %s (%v)", loc, path, err)
	}
	return ctx
}

// TestActionsNeedSignInAndRBAC: without signing in the Sync page offers no action and
// a POST is refused; alice, who signed in with the OpenID provider and whose group may
// patch Syncs, reconciles, suspends and resumes the Sync — the controller handles her
// request — and bob, whom RBAC does not let, is refused with Kubernetes' reason and
// changes nothing: every action is done as the user, by impersonation.
func TestActionsNeedSignInAndRBAC(t *testing.T) {
	key := syncTenants(t)
	path := "/syncs/" + key.Namespace + "/" + key.Name
	ctx := t.Context()
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: "sync-operators"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "trustsync-sync-operator"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "oidc:sync-operators"}},
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "trustsync-sync-operator"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{gitopsv1.GroupVersion.Group}, Resources: []string{"syncs"}, Verbs: []string{"get", "patch"}},
	}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// Whatever happens here, the other tests find the Sync running.
	t.Cleanup(func() {
		s := getSync(t, key)
		if s.Spec.Suspend {
			patch := client.MergeFrom(s.DeepCopy())
			s.Spec.Suspend = false
			if err := env.Client.Patch(context.Background(), s, patch); err != nil {
				t.Error(err)
			}
		}
	})

	anon := tab(t)
	if err := chromedp.Do(anon, chromedp.Navigate(dashboardURL+path)); err != nil {
		t.Fatal(err)
	}
	if got := text(anon, t, ".actions"); strings.Contains(got, "Reconcile now") {
		t.Errorf("signed out, the page offers %q", got)
	}
	status, err := chromedp.Run(anon, chromedp.Evaluate[float64](
		`fetch(location.pathname + "/reconcile", {method: "POST", body: new URLSearchParams({csrf: "guess"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Errorf("a POST without signing in: %v %v, want 401", status, err)
	}
	if s := getSync(t, key); s.Annotations[gitopsv1.AnnotationReconcileRequestedAt] != "" && s.Status.LastHandledReconcileAt == "" {
		t.Errorf("the refused POST requested a reconcile")
	}

	as := signedInTab(t, path, alice.Username, alice.Password)
	if got := text(as, t, "#user"); got != "oidc:alice" {
		t.Errorf("signed in as %q", got)
	}
	before := getSync(t, key).Annotations[gitopsv1.AnnotationReconcileRequestedAt]
	click(as, t, "#action-reconcile")
	waitText(as, t, ".actions .notice", "Reconcile requested as oidc:alice")
	requested := getSync(t, key).Annotations[gitopsv1.AnnotationReconcileRequestedAt]
	if requested == "" || requested == before {
		t.Fatalf("the reconcile request is %q (before %q)", requested, before)
	}
	waitForSync(t, key, func(s *gitopsv1.Sync) bool { return s.Status.LastHandledReconcileAt == requested })
	screenshot(as, t, "signed-in")

	click(as, t, "#action-suspend")
	waitText(as, t, ".actions .notice", "Suspended as oidc:alice")
	if !getSync(t, key).Spec.Suspend {
		t.Fatal("the Sync is not suspended")
	}
	click(as, t, "#action-resume")
	waitText(as, t, ".actions .notice", "Resumed as oidc:alice")
	if getSync(t, key).Spec.Suspend {
		t.Fatal("the Sync is still suspended")
	}

	bs := signedInTab(t, path, bob.Username, bob.Password)
	click(bs, t, "#action-suspend")
	got := waitText(bs, t, "main", "Kubernetes refused")
	if !strings.Contains(got, `"oidc:bob"`) || !strings.Contains(got, "syncs") {
		t.Errorf("bob's refusal says %q", got)
	}
	if getSync(t, key).Spec.Suspend {
		t.Error("bob, whom RBAC refuses, suspended the Sync")
	}
}

// click clicks the button sel once it is there, within 30 s: a page without it fails
// the test with what its actions section shows instead.
func click(ctx context.Context, t *testing.T, sel string) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("clicking %s: %v; the actions show %q", sel, err, text(ctx, t, ".actions"))
	}
}

func getSync(t *testing.T, key client.ObjectKey) *gitopsv1.Sync {
	t.Helper()
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	return s
}
