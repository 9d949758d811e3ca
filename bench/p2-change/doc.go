// Command p2-change is benchmark P2: one agent of 1,000 changes in Git (its mTLS mode:
// its AgentRuntime, its per-agent ConfigMap and its pod template follow). trustsync sends
// only the changed objects; the baseline in the same run is `kubectl apply
// --server-side` of the whole rendered set, the usual CI-driven GitOps step.
// ratio = kubectl time / trustsync time.
package main
