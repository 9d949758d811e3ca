// Package controller assembles `trustsync controller`: one controller-runtime manager
// running the GitSource and Sync controllers, the engine's object cache and the push
// receiver, and the adapters between the engine's small interfaces and the sources
// (artifacts, commit statuses, receiver lookups). It is the only place that knows both.
package controller
