package memrelease

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options say when memory is released.
type Options struct {
	// Period between looks at the runtime's figures (default 2s).
	Period time.Duration
	// Quiet is the most the process may allocate in a Period and count as quiet
	// (default 16 MiB): while it allocates more, a release would only be undone.
	Quiet uint64
	// Burst is how much the process must have allocated since the last release
	// (default 256 MiB): less leaves little garbage, and the collections it already
	// runs keep up with it.
	Burst uint64
	// Held is the heap the process must hold for a release (default 64 MiB).
	Held uint64
}

func (o *Options) defaults() {
	if o.Period <= 0 {
		o.Period = 2 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = 16 << 20
	}
	if o.Burst == 0 {
		o.Burst = 256 << 20
	}
	if o.Held == 0 {
		o.Held = 64 << 20
	}
}

// Sample is what the runtime reports at one look, in bytes.
type Sample struct {
	Allocs uint64 // allocated since the process started
	Held   uint64 // the heap held and not released: objects (live or not yet collected), free and unused spans
}

// Release reports whether to release memory at now, given the look before it and the
// look right after the last release. Which objects are garbage is known only after a
// collection, so it goes by what the process did: a burst, then quiet.
func (o Options) Release(lastRelease, before, now Sample) bool {
	o.defaults()
	quiet := now.Allocs-before.Allocs <= o.Quiet
	return quiet && now.Allocs-lastRelease.Allocs >= o.Burst && now.Held >= o.Held
}

var names = []string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
}

// Read samples the runtime.
func Read() Sample {
	ms := make([]metrics.Sample, len(names))
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return Sample{Allocs: v(0), Held: v(1) + v(2) + v(3)}
}

// Run looks every Period until ctx ends and releases memory when Release says so;
// it returns how many times it did.
func Run(ctx context.Context, o Options) int {
	o.defaults()
	t := time.NewTicker(o.Period)
	defer t.Stop()
	released := 0
	before := Read()
	last := before
	for {
		select {
		case <-ctx.Done():
			return released
		case <-t.C:
		}
		now := Read()
		if o.Release(last, before, now) {
			debug.FreeOSMemory()
			released++
			now = Read()
			last = now
		}
		before = now
	}
}
