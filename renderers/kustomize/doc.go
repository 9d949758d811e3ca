// Package kustomize builds one directory of a source tree with kustomize, in memory.
//
// The build sees the tree through a read-only filesystem confined to it: paths and
// symlinks that lead out of the tree are refused with an error that says so, remote bases
// and resources are refused unless allowed, and nothing is written to disk. A directory
// without a kustomization gets one generated from the manifests below it, as Flux does.
// Every object keeps the file it came from, for error messages.
//
// It must not talk to a cluster, and must not import other trustsync packages than
// renderers/manifest.
package kustomize
