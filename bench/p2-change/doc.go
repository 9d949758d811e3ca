// Command p2-change is benchmark P2: one agent of 1,000 changes in Git (its mTLS mode:
// its AgentRuntime, its per-agent ConfigMap and its pod template follow). trustsync's
// time runs from the new revision's tree to applied: the render (with the applied
// revision's kustomize runs kept, as a Sync keeps them) and the apply, which sends only
// the changed objects. The baseline in the same run is `kubectl apply
// --server-side` of the whole rendered set, the usual CI-driven GitOps step.
// ratio = kubectl time / trustsync time.
package main
