package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Bounds on reading the data plane's counters.
const (
	// decisionsTTL is how long one answer serves every page: live pages re-render on
	// every change, and each would otherwise query Prometheus.
	decisionsTTL     = 30 * time.Second
	decisionsTimeout = 3 * time.Second
	// MaxDecisionSeries bounds the series one answer may hold: pods × points × results.
	MaxDecisionSeries = 50_000
	maxMetricsBody    = 16 << 20
)

// DecisionsQuery sums the sidecars' decision counters per pod, point and result. The
// namespace and pod labels are the ones Prometheus' Kubernetes pod discovery (and a
// PodMonitor) put on every scraped series.
const DecisionsQuery = `sum by (namespace, pod, ` + sidecarconfig.LabelPoint + `, ` + sidecarconfig.LabelResult + `) (` + sidecarconfig.MetricPolicyDecisions + `)`

// decisionReader reads the data plane's policy decision counters from a
// Prometheus-compatible query API (Prometheus, Thanos, VictoriaMetrics), once per TTL.
type decisionReader struct {
	api promv1.API
	url string
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	last views.Decisions
}

func newDecisionReader(url string, now func() time.Time) (*decisionReader, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url, Client: &http.Client{
		Timeout: decisionsTimeout + time.Second, Transport: boundedBodies{http.DefaultTransport},
	}})
	if err != nil {
		return nil, fmt.Errorf("the metrics URL %q: %w", url, err)
	}
	return &decisionReader{api: promv1.NewAPI(c), url: url, now: now}, nil
}

// read is the counters as of at most decisionsTTL ago. Callers wait for one query
// rather than each send their own.
func (d *decisionReader) read(ctx context.Context) views.Decisions {
	if d == nil {
		return views.Decisions{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if !d.at.IsZero() && now.Sub(d.at) < decisionsTTL {
		return d.last
	}
	ctx, cancel := context.WithTimeout(ctx, decisionsTimeout)
	defer cancel()
	d.last, d.at = d.query(ctx, now), now
	return d.last
}

func (d *decisionReader) query(ctx context.Context, now time.Time) views.Decisions {
	out := views.Decisions{Enabled: true}
	val, _, _, err := d.api.Query(ctx, DecisionsQuery, now, promv1.WithTimeout(decisionsTimeout), promv1.WithLimit(MaxDecisionSeries+1))
	if err != nil {
		out.Problem = "The decision counters could not be read from " + d.url + ": " + err.Error()
		return out
	}
	vec, ok := val.(model.Vector)
	if !ok {
		out.Problem = fmt.Sprintf("The metrics at %s answered a %s, not a vector", d.url, val.Type())
		return out
	}
	if len(vec) > MaxDecisionSeries {
		out.Problem = fmt.Sprintf("The metrics at %s hold over %d decision series; counts are not shown", d.url, MaxDecisionSeries)
		return out
	}
	out.Samples = make([]views.DecisionSample, 0, len(vec))
	for _, s := range vec {
		out.Samples = append(out.Samples, views.DecisionSample{
			Namespace: string(s.Metric["namespace"]), Pod: string(s.Metric["pod"]),
			Point: string(s.Metric[sidecarconfig.LabelPoint]), Result: string(s.Metric[sidecarconfig.LabelResult]), Count: float64(s.Value),
		})
	}
	return out
}

// boundedBodies fails a response body past maxMetricsBody rather than read it whole.
type boundedBodies struct{ next http.RoundTripper }

func (b boundedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err == nil {
		resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxMetricsBody}
	}
	return resp, err
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

var errBodyTooLarge = errors.New("the answer is over 16 MiB")

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
