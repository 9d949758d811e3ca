// Package v1alpha1 holds the Go types of agent.rossoctl.dev/v1alpha1, Rossoctl's name for
// agent.kagenti.dev/v1alpha1 since July 2026: the same kinds with the same fields, so
// each is a defined type of its Kagenti one (same memory layout). They exist only so
// that a runtime.Scheme maps them to Rossoctl's group, for clients and controllers that
// watch that group; code converts them to the Kagenti types (api/agent/kinds) and reads
// one Go type whatever the family.
//
// No CRD is generated from here (no +groupName): config/crd/rossoctl is written from the
// Kagenti CRDs by hack/families, so the two schemas cannot drift apart. DeepCopy is
// delegated to the Kagenti types' generated code for the same reason.
//
// It must not import anything from trustsync outside api/.
package v1alpha1
