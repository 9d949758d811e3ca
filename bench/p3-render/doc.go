// Command p3-render is benchmark P3: render a generated repository of 1,000 agents in
// process, against the kustomize CLI (sigs.k8s.io/kustomize/kustomize/v5, pinned) building
// the already-expanded tree of the same objects. ratio = kustomize time / trustsync time.
//
// trustsync's render does more than the baseline — kustomize build of the repository,
// the secure-profile expansion and the compilation of every Rego policy — so a ratio
// above 1 means the whole pipeline is cheaper than kustomize alone on its output.
package main
