package httpserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// TestPprof: the profile server answers a heap profile and has room for a CPU profile.
func TestPprof(t *testing.T) {
	s := Pprof("127.0.0.1:0", Options{}, logr.Discard())
	if s.Options.WriteTimeout < 30*time.Second {
		t.Fatalf("write timeout %s cannot cover a 30-second CPU profile", s.Options.WriteTimeout)
	}
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("%d %.200s", resp.StatusCode, body)
	}
}
