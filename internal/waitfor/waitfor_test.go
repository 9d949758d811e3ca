package waitfor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a TB that records a failure instead of stopping the test.
type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func run(f func(t TB)) (failed string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = r.failed
	}()
	f(r)
	return ""
}

func TestTrue(t *testing.T) {
	n := 0
	if msg := run(func(t TB) { True(t, "three looks", func() bool { n++; return n >= 3 }) }); msg != "" || n != 3 {
		t.Fatalf("failed %q after %d looks", msg, n)
	}
	msg := run(func(t TB) { TrueWithin(t, 120*time.Millisecond, "never", func() bool { return false }) })
	if !strings.Contains(msg, "waiting for never") {
		t.Fatalf("want a timeout naming what was awaited, got %q", msg)
	}
}

func TestNoError(t *testing.T) {
	n := 0
	if msg := run(func(t TB) {
		NoError(t, "the second try", func() error {
			if n++; n < 2 {
				return fmt.Errorf("try %d", n)
			}
			return nil
		})
	}); msg != "" {
		t.Fatal(msg)
	}
}
