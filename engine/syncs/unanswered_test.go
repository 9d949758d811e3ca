package syncs

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestRetryUnavailableBacksOffAndResets(t *testing.T) {
	r := &Reconciler{}
	key := types.NamespacedName{Namespace: "a", Name: "s"}
	var got []time.Duration
	for range 8 {
		got = append(got, r.retryUnavailable(key, time.Minute))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("retries %v, want %v", got, want)
	}
	r.answered(key)
	if d := r.retryUnavailable(key, time.Minute); d != time.Second {
		t.Errorf("after an answer the first retry is %v, want 1s", d)
	}
	if d := r.retryUnavailable(types.NamespacedName{Namespace: "a", Name: "other"}, 500*time.Millisecond); d != 500*time.Millisecond {
		t.Errorf("a retry interval below the first retry: %v, want it", d)
	}
}
