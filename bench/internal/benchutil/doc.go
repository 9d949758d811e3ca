// Package benchutil has the small helpers the benchmark programs share: timing runs,
// medians and the RESULT line.
package benchutil
