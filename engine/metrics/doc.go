// Package metrics defines the engine's Prometheus metrics — reconcile duration, objects
// by action, drifted objects, API requests by verb — and the RoundTripper that counts
// API requests, so that "a no-op reconcile sends nothing" can be measured.
//
// It must not import sources, renderers, webhook or fleet.
package metrics
