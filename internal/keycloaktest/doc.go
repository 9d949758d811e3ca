// Package keycloaktest is a stand-in for Keycloak in tests, where Keycloak itself cannot
// run. One httptest server carries:
//
//   - the admin REST API under /admin/realms/{realm} in the shapes Keycloak documents and
//     gocloak v13 calls: clients (create with a Location header, list by clientId, get,
//     update, delete), client secrets (get, regenerate), client scopes and their protocol
//     mappers, a client's default client scopes and the realm's default default scopes;
//   - the master-realm admin login (password grant of admin-cli at
//     /realms/master/protocol/openid-connect/token) whose bearer tokens the admin API
//     demands;
//   - a real OpenID provider (github.com/zitadel/oidc/v3/pkg/op) under /realms/{realm} for
//     every other realm, at Keycloak's endpoint paths, whose clients are the ones registered
//     through the admin API. It signs JWT access tokens (RS256, keys at
//     protocol/openid-connect/certs) for client_credentials and RFC 8693 token exchange, so
//     tests verify tokens cryptographically rather than trust a mock.
//
// State is in memory behind one mutex. Faults are injected with Down (every request
// answers 503) so callers can prove their backoff and that nothing is lost.
//
// Where it is simpler than Keycloak: no users but the admin and each client's service
// account, no roles, no refresh tokens, and a token exchange only checks that the
// requester has standard.token.exchange.enabled, is in the subject token's audience and
// asks for registered audiences (Keycloak also checks the audience is reachable through
// the requester's client scopes).
//
// It is test support: production code must not import it.
package keycloaktest
