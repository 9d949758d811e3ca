package httpserver

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-logr/logr"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics serves g at /metrics, a few scrapes at a time: the port is unauthenticated,
// and each scrape gathers every series.
func Metrics(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError, MaxRequestsInFlight: 4}))
	return mux
}

// ProbeServers are the metrics server (of g, at /metrics) and the probe server (of
// probes) for the two listen addresses, leaving out any that is off ("" or "0").
func ProbeServers(metricsAddr string, g prometheus.Gatherer, healthAddr string, probes *Probes, o Options, log logr.Logger) []*Server {
	var out []*Server
	if Enabled(metricsAddr) {
		out = append(out, &Server{Name: "metrics", Addr: metricsAddr, Handler: Metrics(g), Options: o, Log: log})
	}
	if Enabled(healthAddr) {
		out = append(out, &Server{Name: "health probe", Addr: healthAddr, Handler: probes, Options: o, Log: log})
	}
	return out
}

// Pprof serves Go's runtime profiles under /debug/pprof/. Its write timeout covers a
// 30-second CPU profile, the default of go tool pprof.
func Pprof(addr string, o Options, log logr.Logger) *Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	o.WriteTimeout = max(o.WriteTimeout, 45*time.Second)
	return &Server{Name: "pprof", Addr: addr, Handler: mux, Options: o, Log: log}
}
