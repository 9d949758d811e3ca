// Command r2-soak is the soak benchmark: 1,000 reconciles of a 100-agent Sync with a
// drift injected every tenth (another field manager changes an object trustsync applied,
// which the next reconcile corrects), then 10,000 admission requests. It prints the
// goroutines and the live heap (after a GC) before and after each, and fails when they
// grow beyond a small slack: a long run must not leak.
//
//	RESULT R2 reconciles=… admissions=… goroutines_start=… goroutines_end=… heap_start_mb=… heap_end_mb=…
package main
