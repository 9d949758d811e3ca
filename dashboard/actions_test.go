package dashboard

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
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

// mergePatch applies a JSON merge patch to s.
func mergePatch(s *gitopsv1.Sync, patch []byte) error {
	doc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if doc, err = jsonpatch.MergePatch(doc, patch); err != nil {
		return err
	}
	return json.Unmarshal(doc, s)
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
		got, shows, ok := syncPatch(tc.action, now)
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %s %v, want %s", tc.action, got, ok, tc.want)
		}
		if !ok {
			continue
		}
		// A Sync patched with it shows it; the Sync before does not.
		before := &gitopsv1.Sync{Spec: gitopsv1.SyncSpec{Suspend: tc.action == ActionResume}}
		after := before.DeepCopy()
		if err := mergePatch(after, got); err != nil {
			t.Fatal(err)
		}
		if shows(before) || !shows(after) {
			t.Errorf("%s: shows(before) = %v, shows(after) = %v", tc.action, shows(before), shows(after))
		}
	}
}

// laggingCache is a cache that shows a Sync suspended only from its lag-th read on, as
// an informer does some time after the write.
type laggingCache struct {
	Cache
	reads, lag int
}

func (c *laggingCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	c.reads++
	s := obj.(*gitopsv1.Sync)
	s.Namespace, s.Name, s.Spec.Suspend = key.Namespace, key.Name, c.reads >= c.lag
	return nil
}

// TestAwaitCache: the redirect after an action waits for the cache to show it, so the
// page shows Resume after Suspend; a cache that never shows it delays it only so long.
func TestAwaitCache(t *testing.T) {
	_, shows, _ := syncPatch(ActionSuspend, time.Now())
	c := &laggingCache{lag: 4}
	s := &Server{cache: c}
	s.awaitCache(t.Context(), client.ObjectKey{Namespace: "team", Name: "agents"}, shows)
	if c.reads != c.lag {
		t.Errorf("awaitCache read the cache %d times, want %d: until it showed the Sync suspended", c.reads, c.lag)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*cachePoll)
	defer cancel()
	never := &laggingCache{lag: 1 << 30}
	(&Server{cache: never}).awaitCache(ctx, client.ObjectKey{Name: "agents"}, shows)
	if ctx.Err() == nil || never.reads == 0 {
		t.Errorf("awaitCache returned before its deadline, after %d reads, from a cache that never shows the action", never.reads)
	}
}
