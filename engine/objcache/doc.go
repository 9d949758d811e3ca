// Package objcache builds the informer cache the engine plans against: it holds only the
// objects trustsync manages (selected by its owner label), and of each only what the
// engine reads from it (Trim): metadata, status, the spec fields health assessment reads,
// and of the managedFields trustsync's own entry and the writes since its last apply,
// which is all drift detection needs. The rest — most of an object's size — is dropped to
// keep the engine's memory small; the engine reads it from the API server in the rare
// runs that need it (a drifted object's values, an object nothing is recorded of).
//
// It must not import sources, renderers, webhook or fleet.
package objcache
