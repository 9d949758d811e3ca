// Package admissionload is the admission benchmarks' workload (P5, R2): the
// AdmissionReview of a typical agent pod, and the AuthBridge mutator on a fixed cluster
// state.
package admissionload
