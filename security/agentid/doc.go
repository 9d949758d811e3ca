// Package agentid holds the rules that render time and run time must agree on about an
// agent: its Keycloak client ID (its SPIFFE ID, or <namespace>/<workload>), whether it is
// registered at all, the ServiceAccount its identity is keyed by, the name and keys of its
// credentials Secret, its audience scope, and the workload an AgentRuntime targets with
// the key the target indexes use. The renderer, the webhook, the sidecar configuration
// and the Keycloak controller all import it, so none of them restates a rule.
//
// It is the rules layer: it must not import anything of trustsync but api and
// security/identity, and links no Kubernetes client.
package agentid
