package benchutil

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Time runs f n times and returns the wall time of each run.
func Time(n int, f func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// Median of a set of durations.
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ms formats a duration in milliseconds with one decimal.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// Result prints the final RESULT line: key=value pairs in the given order.
func Result(id string, kv ...string) {
	var b strings.Builder
	b.WriteString("RESULT ")
	b.WriteString(id)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %s=%s", kv[i], kv[i+1])
	}
	fmt.Println(b.String())
}

// Fatal reports an error and exits.
func Fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// CPUProfile starts a CPU profile written to path and returns what stops it; with an
// empty path it does nothing. The benchmarks profile only their timed part.
func CPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
