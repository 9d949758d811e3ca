// Package objcache builds the informer cache the engine plans against: it holds only the
// objects trustsync manages (selected by its owner label) and, of their managedFields,
// only trustsync's own entry, which is all drift detection needs — the rest is dropped
// to keep the engine's memory small.
//
// It must not import sources, renderers, webhook or fleet.
package objcache
