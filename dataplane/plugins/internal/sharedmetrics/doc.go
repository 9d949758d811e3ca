// Package sharedmetrics registers a plugin's collectors so that instances share them:
// the inbound and outbound entries of one plugin, and the instances a reload builds,
// count into the collectors registered first (counters continue across a reload). It
// imports nothing of trustsync.
package sharedmetrics
