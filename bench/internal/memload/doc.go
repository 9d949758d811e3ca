// Package memload measures what the controller binary holds in memory: it syncs a
// generated agent repository from Gitea on a real control plane and reads the process's
// resident memory before, at peak and after. P7 and the scaling benchmark share it.
package memload
