package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestVerb(t *testing.T) {
	tests := []struct {
		method, url, contentType, want string
	}{
		{"GET", "/api/v1/namespaces/a/configmaps/b", "", VerbGet},
		{"GET", "/api/v1/namespaces/a/configmaps", "", VerbList},
		{"GET", "/api/v1/namespaces", "", VerbList},
		{"GET", "/api/v1/namespaces/a", "", VerbGet},
		{"GET", "/apis/apps/v1/deployments?watch=true", "", VerbWatch},
		{"GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x", "", VerbGet},
		{"PATCH", "/api/v1/namespaces/a/configmaps/b?fieldManager=trustsync", "application/apply-patch+yaml", VerbApply},
		{"PATCH", "/api/v1/namespaces/a/configmaps/b?dryRun=All&fieldManager=trustsync", "application/apply-patch+yaml", VerbDryRun},
		{"PATCH", "/api/v1/namespaces/a/configmaps/b", "application/merge-patch+json", VerbPatch},
		{"POST", "/api/v1/namespaces/a/configmaps", "", VerbCreate},
		{"PUT", "/api/v1/namespaces/a/configmaps/b", "", VerbUpdate},
		{"DELETE", "/api/v1/namespaces/a/configmaps/b", "", VerbDelete},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		if got := Verb(r); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.method, tt.url, got, tt.want)
		}
	}
}

func TestRequestCounter(t *testing.T) {
	c := NewRequestCounter()
	reg := prometheus.NewRegistry()
	rec := NewRecorder(reg)
	c.OnRequest = rec.Request
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	client := &http.Client{Transport: c.Wrap(http.DefaultTransport)}
	for _, u := range []string{"/api/v1/namespaces/a/configmaps/b", "/api/v1/namespaces/a/configmaps/b?dryRun=All"} {
		resp, err := client.Get(srv.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c.Count(VerbGet) != 1 || c.Count(VerbDryRun) != 1 || c.Writes() != 0 {
		t.Fatalf("get %d, dryrun %d, writes %d", c.Count(VerbGet), c.Count(VerbDryRun), c.Writes())
	}
	if got := testutil.ToFloat64(rec.requests.WithLabelValues(VerbDryRun)); got != 1 {
		t.Fatalf("trustsync_api_requests_total{verb=dryrun} = %v", got)
	}
	c.Reset()
	if c.Count(VerbGet) != 0 {
		t.Fatal("reset kept counts")
	}
}

func TestRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewRecorder(reg)
	r.ReconcileDuration("Sync", "team", "agents", 250*time.Millisecond)
	r.Objects("team", "agents", "created", 3)
	r.Objects("team", "agents", "pruned", 0) // no series for nothing
	r.Drifted("team", "agents", 2)
	expected := `
# HELP trustsync_drifted_objects Objects of a Sync that differ from Git at the last check.
# TYPE trustsync_drifted_objects gauge
trustsync_drifted_objects{name="agents",namespace="team"} 2
# HELP trustsync_objects_total Objects handled by reconciles, by action (created, configured, unchanged, pruned, drifted).
# TYPE trustsync_objects_total counter
trustsync_objects_total{action="created",name="agents",namespace="team"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "trustsync_drifted_objects", "trustsync_objects_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(r.duration); n != 1 {
		t.Fatalf("%d duration series", n)
	}
	r.Forget("team", "agents")
	if n := testutil.CollectAndCount(r.drifted) + testutil.CollectAndCount(r.objects) + testutil.CollectAndCount(r.duration); n != 0 {
		t.Fatalf("%d series left after Forget", n)
	}
	var nilRecorder *Recorder
	nilRecorder.Objects("a", "b", "created", 1) // a nil Recorder records nothing, safely
}
