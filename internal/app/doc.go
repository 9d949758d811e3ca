// Package app holds the three process assemblies side by side: controller (the
// manager, its controllers, the cache and the push receiver), webhook (the admission
// server) and bundleserver (the policy bundle server). Each wires packages of the
// lower tiers into one process; only cmd/trustsync imports them.
package app
