package agentcard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFetchDoesNotFollowRedirects: a card fetch goes to the agent's Service only; an
// agent that answers with a redirect cannot send the controller elsewhere.
func TestFetchDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	defer agent.Close()
	f := &HTTPFetcher{URL: func(Endpoint) string { return agent.URL + "/.well-known/agent-card.json" }}
	_, err := f.FetchCard(context.Background(), Endpoint{Namespace: "team-a", Service: "weather", Port: 80, PortName: "http"})
	if err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("fetch through a redirect: %v, want the 302 as an error", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed (%d requests elsewhere)", n)
	}
}
