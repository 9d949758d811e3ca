package receiver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReceive: whatever a validly signed (or not) delivery holds — any body, event,
// delivery ID and signature header — the receiver answers with a status, never panics,
// never answers 5xx for a sender's input, and never echoes the secret.
func FuzzReceive(f *testing.F) {
	f.Add("github", `{"ref":"refs/heads/main"}`, "push", "d-1", true)
	f.Add("gitlab", `{"object_kind":"push","ref":"refs/heads/main"}`, "Push Hook", "", true)
	f.Add("gitea", `{"ref":`, "push", "x", true)
	f.Add("generic", "", "", "", false)
	f.Add("github", `{"zen":"hi","hook_id":1}`, "ping", strings.Repeat("a", 300), true)
	f.Fuzz(func(t *testing.T, typ, payload, event, delivery string, signed bool) {
		h, _ := newHandler()
		r := httptest.NewRequest(http.MethodPost, Path("team", typ), strings.NewReader(payload))
		sig := sign("other", payload)
		if signed {
			sig = sign(secret, payload)
		}
		for _, hdr := range []string{"X-GitHub-Event", "X-Gitea-Event", "X-Gitlab-Event"} {
			r.Header.Set(hdr, event)
		}
		for _, hdr := range []string{"X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gitlab-Event-UUID"} {
			r.Header.Set(hdr, delivery)
		}
		r.Header.Set("X-Hub-Signature-256", "sha256="+sig)
		r.Header.Set("X-Gitea-Signature", sig)
		r.Header.Set("X-Signature", "sha256="+sig)
		if signed {
			r.Header.Set("X-Gitlab-Token", secret)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for a sender's input: %s", w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), secret) {
			t.Fatal("the answer shows the secret")
		}
	})
}
