package waitfor

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Timeout is how long a wait lasts before the test fails; Interval how often it looks.
const (
	Timeout  = 30 * time.Second
	Interval = 50 * time.Millisecond
)

// TB is the part of testing.TB the waits use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// True waits until cond holds.
func True(t TB, what string, cond func() bool) {
	t.Helper()
	TrueWithin(t, Timeout, what, cond)
}

// TrueWithin waits until cond holds, for at most timeout.
func TrueWithin(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(Interval)
	}
}

// NoError waits until f returns nil; the failure carries its last error.
func NoError(t TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", Timeout, what, err)
		}
		time.Sleep(Interval)
	}
}

// Object reads the object at key until cond holds, and returns it; the failure shows the
// object as last read. A read error other than a missing object fails at once.
func Object[T any, P interface {
	*T
	client.Object
}](t TB, c client.Reader, key client.ObjectKey, what string, cond func(P) bool) P {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		obj := P(new(T))
		err := c.Get(context.Background(), key, obj)
		if err == nil && cond(obj) {
			return obj
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("reading %s while waiting for %s: %v", key, what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last read: %+v", Timeout, what, obj)
		}
		time.Sleep(Interval)
	}
}
