// Command p11-fleet is benchmark P11: one agent of 1,000 changes in Git, and the Sync
// targets five member clusters (five API servers, each with its own etcd). trustsync's
// time runs from the new revision's tree to all five clusters reporting it applied:
// one reconcile of the fleet Sync, which renders the revision with each cluster's
// platform (its trust domain) and applies it to the clusters concurrently. The baseline
// in the same run is the single-cluster engine applying a one-agent change to the five
// clusters one after another: for each, the render with its platform and the apply,
// each with its kustomize runs and apply records kept, as five one-cluster Syncs would.
// ratio = baseline time / fleet time.
//
// It also measures the controller's memory per extra cluster: the Go heap after the
// Sync applied to one cluster, and after it applied to all five, over four.
//
// What bounds it here: the five API servers, their etcds and the engine share two
// cores, so applying to the clusters concurrently gains only where one cluster's
// requests would wait on the network; each cluster's render is its own (its platform
// differs), so render time grows with the clusters.
package main
