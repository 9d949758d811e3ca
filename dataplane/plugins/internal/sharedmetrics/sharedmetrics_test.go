package sharedmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a, err := Register(reg, prometheus.NewCounterVec(opts, []string{"r"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Register(reg, prometheus.NewCounterVec(opts, []string{"r"}))
	if err != nil || a != b {
		t.Fatalf("the second registration: %v, same collector %v", err, a == b)
	}
	b.WithLabelValues("ok").Inc()
	if v := testutil.ToFloat64(a.WithLabelValues("ok")); v != 1 {
		t.Errorf("shared counter = %v", v)
	}
	// Another type under the same name is an error.
	if _, err := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "x_total", Help: "x"}, []string{"r"})); err == nil {
		t.Error("a conflicting collector was accepted")
	}
	if c, err := Register[prometheus.Counter](nil, prometheus.NewCounter(opts)); err != nil || c == nil {
		t.Errorf("nil registerer: %v", err)
	}
}
