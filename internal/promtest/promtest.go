package promtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Sample is one series of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Server is a running stand-in.
type Server struct {
	// URL is the base URL, as a Prometheus server's would be.
	URL string
	srv *httptest.Server

	mu      sync.Mutex
	answers map[string][]Sample
	down    bool
	queries int
}

// Start serves on 127.0.0.1.
func Start() *Server {
	s := &Server{answers: map[string][]Sample{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Answer makes query answer samples.
func (s *Server) Answer(query string, samples []Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[query] = samples
}

// Down makes every query answer 503 while down is true.
func (s *Server) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Queries is how many queries were answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

type result struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
		fail(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	s.mu.Lock()
	down := s.down
	samples, known := s.answers[r.Form.Get("query")]
	if !down {
		s.queries++
	}
	s.mu.Unlock()
	switch {
	case down:
		fail(w, http.StatusServiceUnavailable, "unavailable", "Service Unavailable")
		return
	case !known:
		fail(w, http.StatusBadRequest, "bad_data", "1:1: parse error: the stand-in has no answer to "+strconv.Quote(r.Form.Get("query")))
		return
	}
	if limit, err := strconv.Atoi(r.Form.Get("limit")); err == nil && limit > 0 && len(samples) > limit {
		samples = samples[:limit]
	}
	at := float64(time.Now().Unix())
	if t, err := strconv.ParseFloat(r.Form.Get("time"), 64); err == nil {
		at = t
	}
	out := make([]result, len(samples))
	for i, smp := range samples {
		out[i] = result{Metric: smp.Labels, Value: [2]any{at, strconv.FormatFloat(smp.Value, 'f', -1, 64)}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
}

func fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": kind, "error": msg})
}
