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
//     tests verify tokens cryptographically rather than trust a mock;
//   - the authorization code flow (with PKCE) for users added with AddUser, through a
//     login form at /realms/{realm}/login-actions/authenticate shaped like Keycloak's
//     (fields username and password, button kc-login), for web clients added with
//     AddWebClient; ID tokens carry preferred_username, email and groups.
//
// State is in memory behind one mutex. Faults are injected with Down (every request
// answers 503) so callers can prove their backoff and that nothing is lost.
//
// Where it is simpler than Keycloak: users exist only through AddUser and have no
// required actions, there are no roles, no refresh tokens and no single sign-on across
// clients, and a token exchange only checks that the requester has standard.token.exchange.enabled, is in the subject token's audience and
// asks for registered audiences (Keycloak also checks the audience is reachable through
// the requester's client scopes).
//
// It is test support: production code must not import it.
package keycloaktest
