// Package signin signs dashboard users in with OpenID Connect (the authorization code
// flow with PKCE, github.com/zitadel/oidc/v3/pkg/client/rp) and keeps who they are —
// a username and groups read from the ID token, prefixed as kube-apiserver's
// --oidc-username-prefix would — in a sealed, HttpOnly cookie with a CSRF token bound to
// it. It decides nothing: actions run as the signed-in user through impersonation, so
// Kubernetes RBAC says what that user may do.
package signin
