// Package rollout plans how a revision rolls out over a fleet Sync's clusters: which
// wave each cluster is in, which clusters take the revision now, and when a failed wave
// halts the rollout. It implements the engine's RolloutPlanner.
//
// It is pure: the plan is a function of the Sync's rollout, the revision, the clusters'
// labels, hold annotations and last recorded status, and the time it is given. It reads
// no clock, talks to no cluster and must not import controller-runtime.
package rollout
