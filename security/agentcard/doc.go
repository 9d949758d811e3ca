// Package agentcard signs and verifies A2A AgentCards with X.509-SVIDs, and reconciles
// the AgentCard resource (agent.kagenti.dev/v1alpha1): it fetches the card an agent
// serves, verifies its signature against the SPIRE trust bundle and writes the result to
// the AgentCard's status.
//
// What is signed is the canonical JSON of the card (see Canonicalize: sorted keys, no
// insignificant whitespace, the top-level "signatures" member left out). The signature is
// a detached JWS (RFC 7515 appendix F) stored in the card's "signatures" array as
// {protected, signature, header{timestamp}}; the protected header carries alg (from the
// key: RS256, ES256, ES384, ES512), kid (hex of the first 8 bytes of the SHA-256 of the
// leaf certificate), typ "JOSE" and x5c (the SVID chain, leaf first, standard base64 DER).
// Verification takes the chain from x5c, validates it against the trust bundle, requires
// exactly one spiffe:// URI SAN on the leaf, checks the signature with the leaf key and,
// when asked, that the SPIFFE ID is in a trust domain. Rejections are *Error values with
// one of a few Reasons.
//
// The Reconciler resolves spec.targetRef (the workload must be labelled
// kagenti.io/type=agent), finds its Service (named like the workload, else the first whose
// selector matches the pod template), fetches the card through a CardFetcher (HTTPFetcher:
// GET <scheme>://<svc>.<ns>.svc:<port>/.well-known/agent-card.json, port agent-tls, else
// http, else the first), verifies it against a TrustBundleSource (ConfigMapTrustBundle:
// spire-bundle/bundle.spiffe) and applies the status by server-side apply with field owner
// trustsync-agentcard: card, cardId, validSignature, signatureSpiffeId, signatureKeyId,
// signatureVerificationDetails, expectedSpiffeID, signatureIdentityMatch, bindingStatus,
// lastSyncTime and the conditions Synced, Ready, Verified, SignatureVerified and (with
// spec.identityBinding) Bound. It re-fetches every spec.syncPeriod (30s by default).
//
// Cards come from agents and from whoever hands one to the CLI, so everything about them
// is bounded: a card is at most MaxCardBytes (ReadCard says so when it is over, rather
// than failing as cut JSON), at most MaxSignatures signatures of at most MaxChain
// certificates each, a rejection message describes at most three signatures and quotes
// at most 80 bytes of any value. HTTPFetcher follows no redirect whatever client it is
// given, gives up after its Timeout (connection to last byte, so a server that trickles
// is cut off), reads at most 64 KiB of headers and MaxCardBytes of body, and takes only
// JSON; errors give the status code, never the agent's reason phrase.
//
// Unlike the Kagenti operator, which canonicalises its typed card struct (so members the
// struct does not know are neither signed nor checked), the whole JSON document is signed.
//
// It must not import engine, webhook, renderers, sources or fleet.
package agentcard
