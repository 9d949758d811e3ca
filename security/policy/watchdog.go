package policy

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Rego evaluations are bounded in time and memory by one watchdog goroutine, not one per
// evaluation: a decision only registers a watch (a map insert under a mutex) and hands
// it to OPA as its topdown.Cancel, which OPA checks before every expression and inside
// its long-running built-ins. While watches are registered the watchdog wakes every tick
// and cancels those past their deadline, whose context is done, or during which the heap
// grew past their memory bound; idleTicks after the last, it sleeps until the next.
//
// OPA has no allocation limit and Go no per-goroutine accounting, so memory is the
// process's: the live heap (as of the last GC) against the heap when the watchdog first
// saw the watch. That baseline includes the garbage of the moment, so the bound errs
// toward letting an evaluation run, never toward refusing one for what came before it;
// only what other goroutines keep alive during the evaluation counts against it. When
// the heap (garbage included) has grown past a bound since the last check, the watchdog
// forces a collection to know the live figure, so a comprehension bomb is stopped near
// the bound rather than at the next natural GC — at most one forced GC per bound's worth
// of growth.

// tick is how often the watchdog looks; a bomb allocates a few MB in that time.
const tick = 2 * time.Millisecond

// idleTicks is how many ticks without a watch the watchdog waits before it sleeps: while
// decisions keep coming it stays awake, so a decision does not pay for waking it.
const idleTicks = 50

// Why a watch was cancelled.
const (
	stoppedNot int32 = iota
	stoppedTime
	stoppedMemory
	stoppedContext
)

// watch is one bounded evaluation. It is OPA's topdown.Cancel for it.
type watch struct {
	cancelled atomic.Bool
	reason    atomic.Int32
	grown     atomic.Int64 // heap growth measured when stopped for memory

	ctx      context.Context // nil when it cannot be cancelled
	deadline time.Time       // zero: none
	bytes    int64           // 0: no memory bound
	stop     func()          // called when the watchdog cancels it; may be nil

	// base is the heap when the watchdog first saw the watch; only the watchdog uses it.
	base int64
}

func (w *watch) Cancel()         { w.cancelled.Store(true) }
func (w *watch) Cancelled() bool { return w.cancelled.Load() }

// limitError is the bound the watch was stopped for, nil when it was not (or only its
// context ended).
func (w *watch) limitError(l *gitopsv1.Limits) *gitopsv1.LimitError {
	switch w.reason.Load() {
	case stoppedTime:
		return timeoutError(l)
	case stoppedMemory:
		return &gitopsv1.LimitError{Limit: "limits.regoMemory", Max: resource.NewQuantity(l.RegoBytes(), resource.BinarySI).String(),
			What: fmt.Sprintf("the Rego evaluation grew the heap by %d MiB", w.grown.Load()>>20)}
	}
	return nil
}

func timeoutError(l *gitopsv1.Limits) *gitopsv1.LimitError {
	return &gitopsv1.LimitError{Limit: "limits.regoTimeout", Max: l.RegoDeadline().String(), What: "the Rego evaluation did not finish in time"}
}

func (w *watch) trip(reason int32) {
	if w.reason.CompareAndSwap(stoppedNot, reason) {
		w.Cancel()
		if w.stop != nil {
			w.stop()
		}
	}
}

var dog = struct {
	mu      sync.Mutex
	watches map[*watch]struct{}
	idle    bool
	wake    chan struct{}
	start   sync.Once
}{watches: map[*watch]struct{}{}, wake: make(chan struct{}, 1)}

// startWatch registers a bounded evaluation: ctx's end (when it can end), a deadline
// (zero: none) and a memory bound in bytes (0: none). stop, when set, is called if the
// watchdog cancels it. Call done when the evaluation returns.
func startWatch(ctx context.Context, deadline time.Time, bytes int64, stop func()) *watch {
	w := &watch{deadline: deadline, bytes: bytes, stop: stop}
	if ctx != nil && ctx.Done() != nil {
		w.ctx = ctx
		if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			w.deadline = time.Time{} // the context's own deadline ends it: not a limit
		}
	}
	dog.start.Do(func() { go watchdog() })
	dog.mu.Lock()
	dog.watches[w] = struct{}{}
	if dog.idle {
		dog.idle = false
		select {
		case dog.wake <- struct{}{}:
		default:
		}
	}
	dog.mu.Unlock()
	return w
}

// done unregisters the watch.
func (w *watch) done() {
	dog.mu.Lock()
	delete(dog.watches, w)
	dog.mu.Unlock()
}

func watchdog() {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	read := func() (heap, live int64) {
		metrics.Read(samples)
		return int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
	}
	var (
		active []*watch
		floor  int64 // the heap after the last forced GC
		empty  int   // ticks without a watch
	)
	for {
		dog.mu.Lock()
		if len(dog.watches) == 0 {
			if empty++; empty > idleTicks {
				empty, dog.idle = 0, true
				active = nil // hold no finished evaluation's context while asleep
				dog.mu.Unlock()
				<-dog.wake
				continue
			}
			dog.mu.Unlock()
			time.Sleep(tick)
			continue
		}
		empty = 0
		active = active[:0]
		for w := range dog.watches {
			active = append(active, w)
		}
		dog.mu.Unlock()

		now := time.Now()
		heap, live := read()
		collect := false
		for _, w := range active {
			switch {
			case w.reason.Load() != stoppedNot:
			case w.ctx != nil && w.ctx.Err() != nil:
				w.trip(stoppedContext)
			case !w.deadline.IsZero() && now.After(w.deadline):
				w.trip(stoppedTime)
			case w.bytes == 0:
			case w.base == 0:
				w.base = heap
			case live-w.base > w.bytes:
				w.grown.Store(live - w.base)
				w.trip(stoppedMemory)
			case heap-max(w.base, floor) > w.bytes:
				collect = true
			}
		}
		if collect {
			runtime.GC()
			heap, live = read()
			floor = heap
			for _, w := range active {
				if w.bytes > 0 && w.base > 0 && live-w.base > w.bytes {
					w.grown.Store(live - w.base)
					w.trip(stoppedMemory)
				}
			}
		}
		time.Sleep(tick)
	}
}
