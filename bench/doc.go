// Package bench holds trustsync's benchmarks: one program per benchmark under bench/,
// named after its RESULT id (bench/p3-render prints "RESULT P3 ..."). Each measures
// trustsync against a baseline run in the same process or on the same machine in the
// same run, and prints one final line RESULT <id> key=value ... with ratio= where a
// baseline is measured. `make bench` runs them all; `make bench BENCH=P3` runs one.
package bench
