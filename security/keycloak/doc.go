// Package keycloak owns the agents' OAuth2 clients in Keycloak: how a client and its
// credentials Secret are named (so that the renderer and the webhook can refer to them
// before they exist) and, at run time, registering them.
//
// It must not import engine, webhook, renderers or sources.
package keycloak
