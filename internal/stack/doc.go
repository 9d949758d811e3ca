// Package stack runs the whole of trustsync for the end-to-end benchmarks: a control
// plane (envtest), a real Gitea, and the `trustsync controller` binary as a process of
// its own, so that its memory can be read from /proc. Repositories are pushed with the
// git CLI.
package stack
