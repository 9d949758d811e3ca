package authbridge

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trustsync/trustsync/internal/httpserver"
)

// healthServer serves /healthz (the process is up) and /readyz: ready once the SVID
// is there, the listeners serve and every plugin is ready (credentials read, a policy
// bundle active). Not ready is 503 with the reasons, as upstream's. It serves
// /metrics too, on the pod's network where Prometheus scrapes: counters carry no
// credential, while /config stays on the loopback stats server.
func healthServer(s *sidecar) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if reasons := s.notReady(); len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(strings.Join(reasons, "\n") + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return httpserver.New(mux, httpserver.Options{})
}

// notReady says why the sidecar is not ready; empty when it is.
func (s *sidecar) notReady() []string {
	cfg := s.config.Load().resolved
	if cfg.SPIFFE != nil && !s.svidReady.Load() {
		return []string{"waiting for the X.509-SVID from the Workload API at " + cfg.SPIFFE.Socket}
	}
	if !s.started.Load() {
		return []string{"starting"}
	}
	var out []string
	p := s.current.Load()
	for _, pl := range []interface{ Ready() error }{p.inbound, p.outbound} {
		if err := pl.Ready(); err != nil {
			out = append(out, strings.Split(err.Error(), "\n")...)
		}
	}
	return out
}

// statsServer serves /metrics (Prometheus), /config (the active configuration as
// resolved; credentials are never in it: the configuration names files, and a secret
// field prints as [redacted]) and /reload/status.
func statsServer(s *sidecar) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.config.Load().resolved)
	})
	mux.HandleFunc("GET /reload/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.reloads.snapshot())
	})
	return httpserver.New(mux, httpserver.Options{})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
