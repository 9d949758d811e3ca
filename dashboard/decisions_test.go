package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/internal/promtest"
)

func TestDecisionReader(t *testing.T) {
	prom := promtest.Start()
	defer prom.Close()
	prom.Answer(DecisionsQuery, []promtest.Sample{
		{Labels: map[string]string{"namespace": "team-a", "pod": "research-agent-7d9f8b6c5-x2kqz", "point": "inbound/request", "result": "allow"}, Value: 12},
		{Labels: map[string]string{"namespace": "team-a", "pod": "research-agent-7d9f8b6c5-x2kqz", "point": "inbound/request", "result": "deny"}, Value: 3},
	})
	now := time.Unix(1_800_000_000, 0)
	d, err := newDecisionReader(prom.URL, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	got := d.read(t.Context())
	want := []views.DecisionSample{
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "inbound/request", Result: "allow", Count: 12},
		{Namespace: "team-a", Pod: "research-agent-7d9f8b6c5-x2kqz", Point: "inbound/request", Result: "deny", Count: 3},
	}
	if !got.Enabled || got.Problem != "" || fmt.Sprint(got.Samples) != fmt.Sprint(want) {
		t.Fatalf("read %+v", got)
	}

	// One answer serves every page for the TTL; then the counters are read again.
	d.read(t.Context())
	if prom.Queries() != 1 {
		t.Errorf("%d queries within the TTL, want 1", prom.Queries())
	}
	prom.Down(true)
	now = now.Add(decisionsTTL)
	if got := d.read(t.Context()); !got.Enabled || !strings.Contains(got.Problem, "could not be read from "+prom.URL) || got.Samples != nil {
		t.Errorf("Prometheus down: %+v", got)
	}
	prom.Down(false)

	many := make([]promtest.Sample, MaxDecisionSeries+2)
	for i := range many {
		many[i] = promtest.Sample{Labels: map[string]string{"pod": fmt.Sprint("p-", i)}, Value: 1}
	}
	prom.Answer(DecisionsQuery, many)
	now = now.Add(decisionsTTL)
	if got := d.read(t.Context()); !strings.Contains(got.Problem, "over 50000 decision series") {
		t.Errorf("too many series: %.200s", got.Problem)
	}
	// A problem is kept for the TTL too: a struggling Prometheus is not asked per page.
	if d.read(t.Context()); prom.Queries() != 2 {
		t.Errorf("%d queries answered, want 2", prom.Queries())
	}

	var nilReader *decisionReader
	if got := nilReader.read(t.Context()); got.Enabled {
		t.Errorf("no metrics URL: %+v", got)
	}
}

func TestDecisionReaderBoundsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		chunk := strings.Repeat(`{"metric":{"pod":"p"},"value":[1,"1"]},`, 1000)
		for range maxMetricsBody/len(chunk) + 1 {
			fmt.Fprint(w, chunk)
		}
	}))
	defer srv.Close()
	d, err := newDecisionReader(srv.URL, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.read(t.Context()); !strings.Contains(got.Problem, "over 16 MiB") {
		t.Errorf("an endless answer: %.300s", got.Problem)
	}
}
