// Package engineload sets up what the engine benchmarks share: a real control plane
// (envtest), the render of a generated agent repository, and an apply Manager with its
// informer cache and a counter of the requests it sends.
package engineload
