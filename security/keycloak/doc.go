// Package keycloak owns the agents' OAuth2 clients in Keycloak.
//
// How a client, its audience scope and its credentials Secret are named is
// security/agentid's, so the renderer and the webhook refer to them without linking this
// package. A Registrar (gocloak v13) registers one confidential client per agent — the
// representation of Kagenti's operator (standard flow, direct access grants, service
// account, no full scope, client-secret or federated-jwt authentication, token exchange
// as configured), an audience client scope agent-<ns>-<workload>-aud whose
// oidc-audience-mapper adds the client ID to tokens, linked to the client, the realm's
// default scopes and the platform clients — and corrects what drifted, field by field,
// writing only when something differs. The admin token is cached until shortly before
// it expires; the admin password never appears in an error or a log.
//
// The Reconciler drives it from AgentRuntimes (agents; tools only with injectTools): it
// works out the client ID exactly as the renderer does (agentid.AgentClientID), keeps the
// credentials Secret (client-id.txt, client-secret.txt) owned by the workload, reports
// in the ClientRegistered condition (server-side applied with its own field owner), and
// with its finalizer deletes client, scope and Secret when the AgentRuntime goes. When
// Keycloak is down it retries with backoff and leaves the existing Secret alone.
//
// It must not import engine, webhook, renderers or sources.
package keycloak
