// Package policystatus writes the status of AuthorizationPolicies, which the reference
// system declares but never fills: bundleHash (the content hash of the policy's files),
// lastBuilt (when that content first built), observedGeneration and a Ready condition —
// True/Built, or False with CompileFailed or TestFailed naming the file and line, or
// NotHonoured for a global policy outside the platform namespace. GitOps users see
// policy health with kubectl and in the Sync's objects.
//
// It uses security/policy's checks, the same ones a render and the bundle server use.
// It must not import renderers, sources or webhook.
package policystatus
