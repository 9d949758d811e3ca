package memrelease

import (
	"context"
	"runtime"
	"testing"
	"time"
)

const mib = 1 << 20

func TestRelease(t *testing.T) {
	o := Options{}
	for _, tt := range []struct {
		name              string
		last, before, now Sample
		want              bool
	}{
		{"quiet after a burst", Sample{}, Sample{Allocs: 900 * mib}, Sample{Allocs: 905 * mib, Held: 400 * mib}, true},
		{"still busy", Sample{}, Sample{Allocs: 900 * mib}, Sample{Allocs: 950 * mib, Held: 400 * mib}, false},
		{"at the quiet bound", Sample{}, Sample{Allocs: 300 * mib}, Sample{Allocs: 316 * mib, Held: 100 * mib}, true},
		{"quiet, little allocated since the last release", Sample{Allocs: 700 * mib}, Sample{Allocs: 900 * mib}, Sample{Allocs: 900 * mib, Held: 400 * mib}, false},
		{"quiet, a burst's worth since the last release", Sample{Allocs: 644 * mib}, Sample{Allocs: 900 * mib}, Sample{Allocs: 900 * mib, Held: 400 * mib}, true},
		{"quiet after a burst, holding little", Sample{}, Sample{Allocs: 900 * mib}, Sample{Allocs: 900 * mib, Held: 60 * mib}, false},
	} {
		if got := o.Release(tt.last, tt.before, tt.now); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
	if !(Options{Burst: mib}).Release(Sample{}, Sample{}, Sample{Allocs: 2 * mib, Held: 100 * mib}) {
		t.Error("Burst is not used")
	}
}

var sink [][]byte

// A burst's garbage is returned to the OS once the process is quiet.
func TestRunReleasesAfterABurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	released := make(chan int)
	go func() { released <- Run(ctx, Options{Period: 50 * time.Millisecond}) }()
	for range 320 {
		sink = append(sink, make([]byte, mib))
	}
	runtime.GC() // the burst is live at the last collection: the heap goal is high
	sink = nil
	before := Read()
	time.Sleep(500 * time.Millisecond)
	cancel()
	if n := <-released; n == 0 {
		t.Fatalf("nothing released; before %+v, now %+v", before, Read())
	}
	if now := Read(); now.Held > before.Held-256*mib {
		t.Errorf("held %d MiB before, %d MiB after", before.Held/mib, now.Held/mib)
	}
}
