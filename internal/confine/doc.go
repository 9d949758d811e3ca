// Package confine resolves the symbolic links of a slash path inside a tree (an
// fs.ReadLinkFS) the way the kernel does, element by element, and refuses a path whose
// resolution leaves the tree or follows too many links. It is the one symlink walker:
// the renderer's kustomize filesystem and the Git revision's tree both use it.
//
// It owns the walk only; what a caller reads at the resolved path, and how it words a
// refusal, are the caller's. It imports nothing of trustsync, only the standard library,
// so every layer may use it.
package confine
