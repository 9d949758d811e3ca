// Package manifest is the in-memory form of rendered objects: an Object is an unstructured
// Kubernetes object plus the file of the source tree it was built from. The package gives
// objects a stable total order, inventory IDs, YAML/JSON encodings and the error type that
// names file, object and field.
//
// It is the vocabulary of the whole repository — renderers, engine, webhook, previews and
// the CLI — and part of the rules layer: it must not import a Kubernetes client or
// anything else of trustsync.
package manifest
