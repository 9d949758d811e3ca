// Package shardtest holds no code: its test runs trustsync controller processes as
// shards of one cluster (--watch-label-selector, one Lease per shard) and kills them,
// which the controller package's own tests, with their one in-process controller,
// cannot.
package shardtest
