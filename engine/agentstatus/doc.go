// Package agentstatus reports, on every AgentRuntime, what the cluster makes of it: the
// conditions TargetResolved, ConfigResolved, IstioMeshEnrolled, MTLSReady and Ready of
// Kagenti's AgentRuntime, and status.observedGeneration. It writes them by server-side
// apply on the status subresource under its own field owner (FieldOwner), so the
// conditions other controllers keep on the same object (Keycloak, AgentCards) are never
// touched; it writes nothing when nothing changed, and records an Event only when a
// condition changes state.
//
// It observes and never patches. Kagenti's controller labels namespaces for Istio ambient
// and stamps the workload's config hash at run time; trustsync renders both from Git
// (package renderers/secureprofile), so doing it here as well would make two writers of
// the same fields and turn every Git revert into drift. A namespace without the mesh
// labels is therefore reported (IstioMeshEnrolled False NotLabeled), not fixed.
//
// Settings are resolved as the renderer and the webhook resolve them
// (security/authbridge.Resolve, from the AgentRuntime, the namespace's
// authbridge-runtime-config and the platform), so a condition never disagrees with what
// the pods get. SPIRE is judged by its CSI driver (security/spire.Present), the
// volume driver the webhook mounts, rather than by the pod template as Kagenti does:
// trustsync injects at admission, so the template never shows the socket volume.
// MTLSReady is informational and never holds Ready back.
//
// It reads through a cache of its own, narrowed to what it needs (only the
// authbridge-runtime-config ConfigMaps, only the SPIFFE CSIDriver), and maps each change
// to the AgentRuntimes concerned by field index, not by listing them all.
//
// It must not import webhook, sources, fleet or engine/syncs.
package agentstatus
