package dashboard_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

const fleetNS = "dash-fleet"

// hostileMessage is what a member cluster could put in an error the hub reports: it
// must reach the page as text.
const hostileMessage = `apply failed: <img src=x onerror="window.pwned=1"><i>boom</i>`

// selfKubeconfig is a kubeconfig of the test's API server with its admin credentials
// inline: the hub registered as a member of itself, which the controller can contact.
func selfKubeconfig(t *testing.T) []byte {
	t.Helper()
	data, err := env.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// waitForCluster waits until the controller has contacted a Cluster and written its
// Ready condition.
func waitForCluster(t *testing.T, name string) *gitopsv1.Cluster {
	t.Helper()
	c := &gitopsv1.Cluster{}
	for range 300 {
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: fleetNS, Name: name}, c); err == nil &&
			c.Status.ObservedGeneration == c.Generation && meta.FindStatusCondition(c.Status.Conditions, gitopsv1.ReadyCondition) != nil {
			return c
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Cluster %s was never contacted; status %+v", name, c.Status)
	return nil
}

// TestClustersAndAFleetSync: the clusters page lists every registered Cluster as the
// controller found it — labels, Ready and why, version, last contact, trust domain,
// the hold and why — with each fleet Sync's result on it; the fleet Sync's page lists
// its status.clusters, each linked to its cluster; a Sync of this cluster has no such
// section; a new Cluster appears on an open page; a cluster's message with markup is
// shown as text.
func TestClustersAndAFleetSync(t *testing.T) {
	ctx := t.Context()
	tb := tab(t)

	// Before any Cluster is registered, the page says so.
	var existing gitopsv1.ClusterList
	if err := env.Client.List(ctx, &existing); err != nil {
		t.Fatal(err)
	}
	if len(existing.Items) == 0 {
		if err := chromedp.Do(tb, chromedp.Navigate(dashboardURL+"/clusters")); err != nil {
			t.Fatal(err)
		}
		if got := text(tb, t, "#live .empty"); !strings.Contains(got, "No clusters registered") || !strings.Contains(got, "docs/fleet.md") {
			t.Errorf("without clusters the page shows %q", got)
		}
	}

	// prod-eu's kubeconfig reaches the test's API server: the controller connects. staging
	// has none, and is held; edge-1 is suspended.
	sha := strings.Repeat("3f2a9c1e0b", 4)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "prod-eu-kubeconfig"}, Data: map[string][]byte{"value": selfKubeconfig(t)}},
		&gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "prod-eu", Labels: map[string]string{"env": "prod", "region": "eu"}},
			Spec: gitopsv1.ClusterSpec{Platform: &gitopsv1.ClusterPlatform{TrustDomain: "prod-eu.example.org"}}},
		&gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "staging", Labels: map[string]string{"env": "staging"},
			Annotations: map[string]string{gitopsv1.AnnotationHold: "maintenance <b>window</b>"}}},
		&gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "edge-1", Labels: map[string]string{"env": "edge"}},
			Spec: gitopsv1.ClusterSpec{Suspend: true}},
		// Suspended, so the engine leaves the status this test writes as it is: what is
		// shown is what the status says, however it came to say it.
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "agents"}, Spec: gitopsv1.SyncSpec{
			SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./base", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true,
			ClusterSelector: &metav1.LabelSelector{}}},
		&gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "hub-only"}, Spec: gitopsv1.SyncSpec{
			SourceRef: gitopsv1.SourceReference{Name: "agents"}, Path: "./base", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	prod := waitForCluster(t, "prod-eu")
	if !meta.IsStatusConditionTrue(prod.Status.Conditions, gitopsv1.ReadyCondition) {
		t.Fatalf("prod-eu not connected: %+v", prod.Status)
	}
	waitForCluster(t, "staging")
	waitForCluster(t, "edge-1")

	// The fleet Sync's status, as the engine writes it, through the status subresource.
	s := &gitopsv1.Sync{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: fleetNS, Name: "agents"}, s); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Status.Clusters = []gitopsv1.ClusterSyncStatus{
		{Name: "edge-1", Wave: "canary", LastAttemptedRevision: "main@sha1:" + sha, Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterFailed, Message: hostileMessage},
		{Name: "prod-eu", Wave: "canary", LastAppliedRevision: "main@sha1:" + sha, LastAttemptedRevision: "main@sha1:" + sha,
			Ready: metav1.ConditionTrue, Result: gitopsv1.ClusterApplied, Objects: 12, Drifted: 1, Agents: "3/3"},
		{Name: "staging", Wave: "rest", Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterHeld, Message: "held: maintenance <b>window</b>"},
	}
	if err := env.Client.Status().Patch(ctx, s, patch); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(tb, chromedp.Navigate(dashboardURL+"/clusters?ns="+fleetNS)); err != nil {
		t.Fatal(err)
	}
	rowOf := func(name string) string { return `tr[data-cluster="` + fleetNS + "/" + name + `"]` }
	got := waitText(tb, t, rowOf("prod-eu"), "Applied")
	for _, want := range []string{"env=prod", "region=eu", "Ready=True", "Connected as ", "Kubernetes v1.", prod.Status.ServerVersion, "ago",
		"prod-eu.example.org", fleetNS + "/agents", "main@" + sha[:12], "wave canary"} {
		if !strings.Contains(got, want) {
			t.Errorf("prod-eu's row shows %q, without %q", got, want)
		}
	}
	got = waitText(tb, t, rowOf("staging"), "Held")
	for _, want := range []string{"env=staging", "Ready=False", "KubeConfigMissing", "no Secret staging-kubeconfig", "never", "the hub's",
		"held maintenance <b>window</b>", "held: maintenance <b>window</b>", "wave rest"} {
		if !strings.Contains(got, want) {
			t.Errorf("staging's row shows %q, without %q", got, want)
		}
	}
	got = waitText(tb, t, rowOf("edge-1"), "Failed")
	for _, want := range []string{"Suspended", "suspended", hostileMessage, "wave canary · trying main@" + sha[:12]} {
		if !strings.Contains(got, want) {
			t.Errorf("edge-1's row shows %q, without %q", got, want)
		}
	}
	if counts := text(tb, t, ".counts"); !strings.Contains(counts, "3 clusters") || !strings.Contains(counts, "2 not Ready") || !strings.Contains(counts, "1 held") {
		t.Errorf("the counts show %q", counts)
	}
	noMarkup(tb, t)
	screenshot(tb, t, "clusters")

	// A Cluster registered while the page is open appears on it, without a reload.
	waitText(tb, t, "#live-state", "live")
	late := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "late", Labels: map[string]string{"env": "dev"}}}
	if err := env.Client.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got := waitText(tb, t, rowOf("late"), "env=dev"); !strings.Contains(got, "selected, not reported yet") {
		t.Errorf("the new cluster's row shows %q", got)
	}

	// The fleet Sync's page: its clusters, each linked to the clusters page.
	if err := chromedp.Do(tb, chromedp.Navigate(dashboardURL+"/syncs/"+fleetNS+"/agents")); err != nil {
		t.Fatal(err)
	}
	got = waitText(tb, t, `#live tr[data-cluster="prod-eu"]`, "Applied")
	for _, want := range []string{"canary", "True", sha[:12], "12", "3/3"} {
		if !strings.Contains(got, want) {
			t.Errorf("prod-eu's row on the Sync page shows %q, without %q", got, want)
		}
	}
	if got := text(tb, t, `#live tr[data-cluster="staging"]`); !strings.Contains(got, "Held") || !strings.Contains(got, "rest") || !strings.Contains(got, "held: maintenance <b>window</b>") {
		t.Errorf("staging's row on the Sync page shows %q", got)
	}
	if got := text(tb, t, `#live tr[data-cluster="edge-1"]`); !strings.Contains(got, "Failed") || !strings.Contains(got, hostileMessage) {
		t.Errorf("edge-1's row on the Sync page shows %q", got)
	}
	if got := text(tb, t, ".summary"); !strings.Contains(got, "1/3 applied") {
		t.Errorf("the summary shows %q", got)
	}
	noMarkup(tb, t)
	screenshot(tb, t, "sync-fleet")

	// The cluster's name leads to its row on the clusters page.
	if err := chromedp.Do(tb, chromedp.Click(chromedp.CSS(`#live tr[data-cluster="prod-eu"] a`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	waitText(tb, t, rowOf("prod-eu"), "prod-eu.example.org")
	loc, err := chromedp.Run(tb, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(loc); err != nil || u.Path != "/clusters" || u.Query().Get("ns") != fleetNS || u.Query().Get("q") != "prod-eu" {
		t.Errorf("the cluster's link went to %q", loc)
	}
	if n, err := chromedp.Run(tb, chromedp.Evaluate[int](`document.querySelectorAll("#live tr[data-cluster]").length`)); err != nil || n != 1 {
		t.Errorf("the filtered clusters page shows %d rows (%v), want prod-eu's only", n, err)
	}

	// A Sync of this cluster: no Clusters section.
	if err := chromedp.Do(tb, chromedp.Navigate(dashboardURL+"/syncs/"+fleetNS+"/hub-only")); err != nil {
		t.Fatal(err)
	}
	waitText(tb, t, "#live", "Conditions")
	if has, err := chromedp.Run(tb, chromedp.Evaluate[bool](`document.querySelector("#clusters, #live tr[data-cluster]") !== null`)); err != nil || has {
		t.Errorf("a Sync without a clusterSelector shows clusters (%v)", err)
	}
}

// noMarkup fails when markup from a status reached the page as elements, or ran.
func noMarkup(ctx context.Context, t *testing.T) {
	t.Helper()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#live img, #live i, #live b") !== null || window.pwned !== undefined`))
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Error("a status's markup reached the page as elements")
	}
}
