package dashboard

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/dashboard/web"
)

const hostile = `<img src=x onerror="alert(1)"><b>bold</b>`

// templated renders one template of the dashboard's as the server does.
func templated(t *testing.T, name string, data any) string {
	t.Helper()
	now := time.Unix(1700000060, 0)
	tmpl, err := web.Templates(func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	out, err := (&Server{tmpl: tmpl}).fragment(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// noMarkupFrom fails when html holds hostile's markup unescaped.
func noMarkupFrom(t *testing.T, html string) {
	t.Helper()
	for _, raw := range []string{"<img", "<b>", "onerror=\""} {
		if strings.Contains(html, raw) {
			t.Errorf("%q reaches the page unescaped", raw)
		}
	}
	if !strings.Contains(html, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("the hostile text is not on the page, escaped")
	}
}

func fleetObjects() ([]*gitopsv1.Cluster, *gitopsv1.Sync) {
	contact := metav1.Unix(1700000000, 0)
	c := &gitopsv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "prod-eu", Labels: map[string]string{"env": "prod"},
		Annotations: map[string]string{gitopsv1.AnnotationHold: "maintenance " + hostile}},
		Spec: gitopsv1.ClusterSpec{Platform: &gitopsv1.ClusterPlatform{TrustDomain: "prod-eu.example.org"}},
		Status: gitopsv1.ClusterStatus{ServerVersion: "v1.37.2", LastContact: &contact,
			Conditions: []metav1.Condition{{Type: gitopsv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: gitopsv1.ReasonUnreachable, Message: "refused: " + hostile}}}}
	s := &gitopsv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "agents"}, Spec: gitopsv1.SyncSpec{
		SourceRef: gitopsv1.SourceReference{Name: "agents"}, ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
		Status: gitopsv1.SyncStatus{Clusters: []gitopsv1.ClusterSyncStatus{{Name: "prod-eu", Wave: "canary", Ready: metav1.ConditionFalse, Result: gitopsv1.ClusterFailed,
			LastAppliedRevision: "main@sha1:3f2a9c1e0b7d", LastAttemptedRevision: "main@sha1:0123456789ab", Objects: 7, Drifted: 2, Agents: "1/3", Message: "apply failed: " + hostile}}}}
	return []*gitopsv1.Cluster{c}, s
}

func TestClustersTemplate(t *testing.T) {
	cls, s := fleetObjects()
	q := views.Query{Page: 1, Size: views.DefaultPageSize}
	html := templated(t, "clusters", views.NewClustersPage(cls, []*gitopsv1.Sync{s}, q))
	for _, want := range []string{`data-cluster="fleet/prod-eu"`, "env=prod", "v1.37.2", "1m ago", "prod-eu.example.org", ">held<",
		`href="/syncs/fleet/agents"`, ">Failed<", "main@<code>3f2a9c1e0b7d</code>", "wave canary · trying ", "main@<code>0123456789ab</code>", "Ready=False"} {
		if !strings.Contains(html, want) {
			t.Errorf("the clusters page lacks %q:\n%s", want, html)
		}
	}
	noMarkupFrom(t, html)

	if html := templated(t, "clusters", views.NewClustersPage(nil, nil, q)); !strings.Contains(html, "No clusters registered") || strings.Contains(html, "<table") {
		t.Errorf("no clusters: %s", html)
	}
	if html := templated(t, "clusters", views.NewClustersPage(cls, nil, views.Query{Text: "nothing", Page: 1, Size: 10})); !strings.Contains(html, "No cluster matches the filter") {
		t.Errorf("filtered out: %s", html)
	}
}

func TestSyncTemplateClusters(t *testing.T) {
	_, s := fleetObjects()
	html := templated(t, "sync", views.NewSyncPage(s, nil, nil, nil))
	for _, want := range []string{`<h2 id="clusters">Clusters</h2>`, "<code>env=prod</code>", `<tr data-cluster="prod-eu">`, `href="/clusters?ns=fleet&amp;q=prod-eu"`,
		"canary", ">Failed<", "<code>3f2a9c1e0b7d</code>", "<code>0123456789ab</code>", "<td>7</td>", ">2<", "1/3", "0/1 applied"} {
		if !strings.Contains(html, want) {
			t.Errorf("the Sync page lacks %q:\n%s", want, html)
		}
	}
	noMarkupFrom(t, html)

	// A Sync without a clusterSelector: no Clusters section, whatever its status holds.
	s.Spec.ClusterSelector = nil
	if html := templated(t, "sync", views.NewSyncPage(s, nil, nil, nil)); strings.Contains(html, `id="clusters"`) || strings.Contains(html, "applied</dd>") {
		t.Errorf("a Sync of this cluster shows clusters")
	}
}
