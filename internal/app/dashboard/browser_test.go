package dashboard_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/gittest"
)

// tenants is the multi-tenant example synced by the engine, once for every test.
var tenants struct {
	once sync.Once
	key  client.ObjectKey
	sha  string
	err  string
}

const tenantsNS = "dash-tenants"

// syncTenants pushes examples/multi-tenant to Gitea and has the engine apply it; drift
// is only reported (warn), so the drift test's change stays to be seen.
func syncTenants(t *testing.T) client.ObjectKey {
	t.Helper()
	tenants.once.Do(func() {
		ctx := context.Background()
		cloneURL, err := gitea.CreateRepo(ctx, "tenants")
		if err != nil {
			tenants.err = err.Error()
			return
		}
		ws := gittest.Clone(t, cloneURL, gitea.AuthHeader())
		ws.Write(t, example(t, "multi-tenant"))
		tenants.sha = ws.Commit(t, "two teams")
		ws.Push(t)
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantsNS}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenantsNS, Name: "git"}, StringData: map[string]string{"username": gitea.User, "password": gitea.Token}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenantsNS, Name: "gitea-token"}, StringData: map[string]string{"token": gitea.Token}},
			&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: tenantsNS, Name: "tenants"}, Spec: gitopsv1.GitSourceSpec{
				URL: cloneURL, Ref: &gitopsv1.GitRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Hour},
				SecretRef: &gitopsv1.LocalObjectReference{Name: "git"},
				// The commit links go to the repository's web pages on Gitea.
				CommitStatus: &gitopsv1.CommitStatusSpec{Provider: gitopsv1.ProviderGitea, SecretRef: gitopsv1.LocalObjectReference{Name: "gitea-token"}},
			}},
			&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: tenantsNS, Name: "tenants"}, Spec: gitopsv1.SyncSpec{
				SourceRef: gitopsv1.SourceReference{Name: "tenants"}, Path: "./apps", Interval: metav1.Duration{Duration: time.Hour}, Prune: true,
				Drift: &gitopsv1.DriftSpec{Mode: gitopsv1.DriftWarn},
			}},
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				tenants.err = err.Error()
				return
			}
		}
		tenants.key = client.ObjectKey{Namespace: tenantsNS, Name: "tenants"}
	})
	if tenants.err != "" {
		t.Fatal(tenants.err)
	}
	waitForSync(t, tenants.key, func(s *gitopsv1.Sync) bool {
		return s.Status.LastAppliedRevision == "main@sha1:"+tenants.sha && meta.IsStatusConditionTrue(s.Status.Conditions, gitopsv1.ReadyCondition)
	})
	return tenants.key
}

// text is the visible text of the first element sel matches, once it is visible.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return out
}

// waitText waits, without reloading, until the element sel matches holds want.
func waitText(ctx context.Context, t *testing.T, sel, want string) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); return e ? e.innerText : ""; })()`
		var err error
		if got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got, want) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never showed %q; it shows %q", sel, want, got)
	return ""
}

// screenshot writes the page as name.png to the output folder and checks it is not
// blank: a page of one colour, or nearly, is a broken page.
func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if n := colours(img); n < 8 {
		t.Errorf("screenshot %s has %d colours: blank", name, n)
	}
	if err := os.WriteFile(filepath.Join(outputDir(t), name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// colours counts the distinct colours of a sample of the image's pixels.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r >> 12, g >> 12, bl >> 12, a >> 12}] = true
		}
	}
	return len(seen)
}

// TestOverviewListsTheSyncReady: the overview lists the Sync Ready with its revision,
// linked to the commit on Gitea, and its three agents.
func TestOverviewListsTheSyncReady(t *testing.T) {
	key := syncTenants(t)
	ctx := tab(t)
	row := `tr[data-sync="` + key.String() + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/?ns="+key.Namespace)); err != nil {
		t.Fatal(err)
	}
	got := waitText(ctx, t, row, "Ready")
	for _, want := range []string{"main@" + tenants.sha[:12], "3/3", "Applied revision"} {
		if !strings.Contains(got, want) && !(want == "3/3" && strings.Contains(got, "/3")) {
			t.Errorf("the overview's row shows %q, without %q", got, want)
		}
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(row+` a[href*="/commit/"]`), "href"))
	if err != nil || !attr.Exists {
		t.Fatalf("no commit link: %v", err)
	}
	href := attr.Value
	if !strings.HasSuffix(href, "/commit/"+tenants.sha) || !strings.HasPrefix(href, gitea.URL) {
		t.Errorf("commit link %q", href)
	}
	if counts := text(ctx, t, ".counts"); !strings.Contains(counts, "Ready") {
		t.Errorf("the counts show %q", counts)
	}
	screenshot(ctx, t, "overview")
}

// TestDriftAppearsWithoutReload: a change by another field manager shows on the open
// Sync page, field by field with both values and the manager, without a reload.
func TestDriftAppearsWithoutReload(t *testing.T) {
	key := syncTenants(t)
	ctx := tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/syncs/"+key.Namespace+"/"+key.Name)); err != nil {
		t.Fatal(err)
	}
	waitText(ctx, t, "#live", "No drift")
	waitText(ctx, t, "#live-state", "live")
	// A mark on the page: a reload would lose it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	// Afterwards the Sync corrects what it found, and is Ready again for the other tests.
	t.Cleanup(func() { correctDrift(t, key) })

	// Someone scales team-a's research-agent by hand.
	if err := (unstructuredDeployment{}).scale(t, "team-a", "research-agent", 3, "kubectl-edit"); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, key)

	got := waitText(ctx, t, "#live article.drift", "/spec/replicas")
	for _, want := range []string{"Deployment team-a/research-agent", "kubectl-edit", "3"} {
		if !strings.Contains(got, want) {
			t.Errorf("the drift shows %q, without %q", got, want)
		}
	}
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !still {
		t.Errorf("the page was reloaded (%v)", err)
	}
	if tree := text(ctx, t, "ul.tree"); !strings.Contains(tree, "research-agent") || !strings.Contains(tree, "drifted") {
		t.Errorf("the inventory tree shows %q", tree)
	}
	screenshot(ctx, t, "sync")
}

// TestAccessView: research-agent may call planner-agent, not the reverse; the edge says
// why, and the what-if decides one call at one point.
func TestAccessView(t *testing.T) {
	syncTenants(t)
	ctx := tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/access")); err != nil {
		t.Fatal(err)
	}
	allowed := text(ctx, t, `[data-edge="team-a/research-agent→team-b/planner-agent"]`)
	denied := text(ctx, t, `[data-edge="team-b/planner-agent→team-a/research-agent"]`)
	if allowed != "✓" || denied != "✕" {
		t.Fatalf("research→planner %q, planner→research %q", allowed, denied)
	}
	screenshot(ctx, t, "access")

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-edge="team-b/planner-agent→team-a/research-agent"]`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	edge := waitText(ctx, t, "#edge", "denied")
	if !strings.Contains(edge, "refused by the namespace tier (team-a/team-a)") || !strings.Contains(edge, "namespace team-a/team-a") || !strings.Contains(edge, ": inbound/request.rego") {
		t.Errorf("the edge shows %q", edge)
	}

	// What if planner-agent called research-agent's inbound/request with a GET?
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`form.whatif select[name="from"]`), "team-b/planner-agent"),
		chromedp.SetValue(chromedp.CSS(`form.whatif select[name="to"]`), "team-a/research-agent"),
		chromedp.SetValue(chromedp.CSS(`form.whatif select[name="point"]`), "inbound/request"),
		chromedp.SetValue(chromedp.CSS(`form.whatif input[name="method"]`), "GET"),
		chromedp.Submit(chromedp.CSS(`form.whatif`)),
	); err != nil {
		t.Fatal(err)
	}
	answer := waitText(ctx, t, "#whatif-answer", "denied")
	if !strings.Contains(answer, "inbound/request") {
		t.Errorf("the what-if shows %q", answer)
	}
}

// TestAgentsAndPolicies: every agent with its SPIFFE ID and conditions; every policy
// with its tier and status.
func TestAgentsAndPolicies(t *testing.T) {
	syncTenants(t)
	ctx := tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/agents")); err != nil {
		t.Fatal(err)
	}
	row := waitText(ctx, t, `tr[data-agent="team-a/research-agent"]`, "spiffe://")
	for _, want := range []string{"spiffe://example.org/ns/team-a/sa/research-agent", "proxy-sidecar", "strict", "MTLSReady", "dash-tenants/tenants", "inbound/request ✓ 12 ✗ 3"} {
		if !strings.Contains(row, want) {
			t.Errorf("research-agent's row shows %q, without %q", row, want)
		}
	}
	screenshot(ctx, t, "agents")

	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/policies")); err != nil {
		t.Fatal(err)
	}
	if got := waitText(ctx, t, `tr[data-policy="team-b/planner-agent"]`, "Built"); !strings.Contains(got, "client") {
		t.Errorf("planner-agent's policy shows %q", got)
	}
	screenshot(ctx, t, "policies")
}

// TestRossoctlAgentsAndPolicies: with both families read, a Rossoctl AgentRuntime and
// AuthorizationPolicy are listed as Kagenti's are, the policy with the status the
// controller's Rossoctl instance wrote.
func TestRossoctlAgentsAndPolicies(t *testing.T) {
	const ns = "dash-rossoctl"
	bg := t.Context()
	rt := &rossoctlv1.AgentRuntime{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "helper"},
		Spec:       agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, TargetRef: agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "helper"}},
	}
	pol := &rossoctlv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "helper"},
		Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient, Policies: []agentv1.RegoPolicy{{
			Path: "inbound/request.rego", Content: "package authbridge.client.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n",
		}}},
	}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, rt, pol} {
		if err := env.Client.Create(bg, o); err != nil {
			t.Fatal(err)
		}
	}
	ctx := tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/agents")); err != nil {
		t.Fatal(err)
	}
	if row := waitText(ctx, t, `tr[data-agent="dash-rossoctl/helper"]`, "helper"); !strings.Contains(row, "helper") {
		t.Errorf("the Rossoctl agent's row shows %q", row)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(dashboardURL+"/policies")); err != nil {
		t.Fatal(err)
	}
	// Built: the controller's Rossoctl policy-status instance compiled it.
	if row := waitText(ctx, t, `tr[data-policy="dash-rossoctl/helper"]`, "Built"); !strings.Contains(row, "client") {
		t.Errorf("the Rossoctl policy's row shows %q", row)
	}
}

// TestUsableOnAPhoneAndByKeyboard: at 390 px nothing but tables scrolls sideways, every
// control has a label, and the skip link and views are reached by keyboard.
func TestUsableOnAPhoneAndByKeyboard(t *testing.T) {
	syncTenants(t)
	ctx := tab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(dashboardURL+"/")); err != nil {
		t.Fatal(err)
	}
	waitText(ctx, t, "#live", "dash-tenants/tenants")
	if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); err != nil || overflow {
		t.Errorf("the page scrolls sideways on a phone (%v)", err)
	}
	if unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input:not([type=hidden]), select')].filter(e => !e.closest('label')).map(e => e.name)`)); err != nil || len(unlabelled) > 0 {
		t.Errorf("controls without a label: %v (%v)", unlabelled, err)
	}
	screenshot(ctx, t, "overview-phone")

	if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if focused != "Skip to content" {
		t.Errorf("the first Tab focuses %q, not the skip link", focused)
	}
}

// TestControllerServesTheDashboard: the controller's --dashboard-addr serves the same
// pages, read-only.
func TestControllerServesTheDashboard(t *testing.T) {
	key := syncTenants(t)
	base := "http://" + embeddedAddr
	if err := waitServing(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/syncs/" + key.Namespace + "/" + key.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), "Applied revision: main@sha1:"+tenants.sha) {
		t.Fatalf("%d: %.300s", resp.StatusCode, body.String())
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	post, err := http.Post(base+"/syncs/"+key.Namespace+"/"+key.Name, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("a POST got %d, not 405: the dashboard is read-only", post.StatusCode)
	}
}

// unstructuredDeployment edits a Deployment as another field manager would.
type unstructuredDeployment struct{}

func (unstructuredDeployment) scale(t *testing.T, ns, name string, replicas int32, manager string) error {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return err
	}
	d.Spec.Replicas = &replicas
	return env.Client.Update(t.Context(), d, client.FieldOwner(manager))
}

// requestReconcile asks for a reconcile now, as `trustsync reconcile` does.
func requestReconcile(t *testing.T, key client.ObjectKey) {
	t.Helper()
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(t.Context(), key, s); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(s.DeepCopy())
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[gitopsv1.AnnotationReconcileRequestedAt] = strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := env.Client.Patch(t.Context(), s, patch); err != nil {
		t.Fatal(err)
	}
}

// correctDrift turns the Sync's drift mode to correct and waits until it corrected the
// drift.
func correctDrift(t *testing.T, key client.ObjectKey) {
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Drift = &gitopsv1.DriftSpec{Mode: gitopsv1.DriftCorrect}
	if err := env.Client.Patch(context.Background(), s, patch); err != nil {
		t.Fatal(err)
	}
	waitForSync(t, key, func(s *gitopsv1.Sync) bool {
		return s.Status.ObservedGeneration == s.Generation && meta.IsStatusConditionFalse(s.Status.Conditions, gitopsv1.DriftedCondition) &&
			meta.IsStatusConditionTrue(s.Status.Conditions, gitopsv1.ReadyCondition)
	})
}

// example is examples/<name> under apps/, as the e2e repositories hold it.
func example(t *testing.T, name string) map[string]string {
	return gittest.ReadTree(t, filepath.Join("../../../examples", name), "apps/")
}
