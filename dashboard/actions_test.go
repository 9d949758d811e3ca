package dashboard

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    bool
	}{
		{"a browser's same-origin form", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://dash.example"}, true},
		{"another site's form", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, false},
		{"a sibling subdomain", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"a typed URL or bookmark", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"an older browser, same origin", map[string]string{"Origin": "http://dash.example"}, true},
		{"an older browser, another origin", map[string]string{"Origin": "http://evil.example"}, false},
		{"an opaque origin", map[string]string{"Origin": "null"}, false},
		{"no browser headers (curl)", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://dash.example/syncs/a/b/reconcile", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := sameOrigin(r); got != tc.want {
				t.Errorf("sameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSyncPatch(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 5, time.FixedZone("x", 3600))
	tests := []struct{ action, want string }{
		{ActionReconcile, `{"metadata":{"annotations":{"gitops.trustsync.dev/reconcile-requested-at":"2026-12-03T09:00:00.000000005Z"}}}`},
		{ActionSuspend, `{"spec":{"suspend":true}}`},
		{ActionResume, `{"spec":{"suspend":false}}`},
		{"delete", ""},
	}
	for _, tc := range tests {
		got, ok := syncPatch(tc.action, now)
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %s %v, want %s", tc.action, got, ok, tc.want)
		}
	}
}
