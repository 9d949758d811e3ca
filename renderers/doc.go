// Package renderers turns one directory of a source tree into the complete, validated
// manifests of a revision: kustomize build (renderers/kustomize), the checks of what the
// API server would refuse (renderers/schema), the secure-profile expansion
// (renderers/secureprofile), then the policy checks (security/policy). The
// result is a pure function of the tree and the platform, so it can be previewed,
// diffed and tested without a cluster.
//
// A revision renders whole or not at all: on any error Render returns every problem
// found, each naming file, object and field, and no objects.
//
// It must not talk to a cluster and must not import engine, webhook or sources.
package renderers
