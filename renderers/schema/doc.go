// Package schema refuses at render what the API server would refuse on apply, as far as
// a render can know it, so that a revision that renders is not one the cluster turns
// away half-way:
//
//   - objects of the API groups trustsync owns (agent.kagenti.dev, gitops.trustsync.dev)
//     must be a kind and served version of its CRDs, with a "did you mean" for near misses;
//   - objects of those kinds are checked against the CRDs themselves (config/crd), with
//     the API server's own code: pruning of unknown fields, defaulting, metadata, the
//     OpenAPI v3 schema, list types and the CEL rules;
//   - objects of built-in kinds are decoded strictly and their metadata (names per kind,
//     namespaces, labels, annotations) and the fields of the kinds trustsync renders and
//     targets (pod templates of workloads, Services, ConfigMaps, Secrets) are checked
//     with apimachinery's validation helpers, mirroring the API server's rules.
//
// Schemas are parsed and compiled once per process. It must not talk to a cluster and
// must not import engine, webhook, sources or the other renderers.
package schema
