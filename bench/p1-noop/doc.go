// Command p1-noop is benchmark P1: a no-op reconcile of 1,000 generated agents against a
// real API server. trustsync plans from its informer cache and what it last applied, so
// it should send no write and no dry-run; the baseline, in the same run on its own control
// plane, is fluxcd/pkg/ssa's ResourceManager.ApplyAllStaged of the same objects, which
// dry-runs every object to find out. ratio = baseline time / trustsync time.
package main
