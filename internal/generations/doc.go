// Package generations is the bounded memory of the caches that remember by content (the
// policy decision memo, the render's check passes and guard verdicts): a map of two
// generations, so what was used recently stays and the size is bounded without
// bookkeeping per entry.
package generations
