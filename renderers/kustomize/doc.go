// Package kustomize builds one directory of a source tree with kustomize, in memory.
//
// Git content is untrusted (a fork's pull request is rendered too), so the build sees the
// tree through a read-only filesystem confined to it, and kustomize reads only checked
// copies of the kustomizations: every reference is rewritten to a relative path of the
// tree after it was found there, so no string can make kustomize fetch a URL, clone a
// repository or run a program; Helm charts, plugins, KRM functions and generators built
// from a directory are refused. Every YAML file is guarded before it is parsed (depth,
// nodes with aliases expanded, keys given twice), and every dimension of the build is
// bounded (Limits): file and revision bytes, files visited, objects, symlink hops, time.
// A directory without a kustomization gets one generated from the manifests below it, as
// Flux does. Every object keeps the file it came from, for error messages.
//
// It must not talk to a cluster or the network, and must not import other trustsync
// packages than manifest and internal/confine (the symlink walker).
package kustomize
