package sidecartest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Nerzal/gocloak/v13"

	"github.com/trustsync/trustsync/internal/keycloaktest"
)

// Realm is the Keycloak realm of the agents.
const Realm = "kagenti"

// RegisterClients creates a confidential client per ID in kc's realm, whose tokens
// carry the client's own ID as audience and which may exchange tokens, as trustsync's
// Keycloak registrar does, and returns their secrets.
func RegisterClients(ctx context.Context, kc *keycloaktest.Server, clientIDs ...string) (map[string]string, error) {
	admin := gocloak.NewClient(kc.URL)
	jwt, err := admin.LoginAdmin(ctx, kc.AdminUsername(), kc.AdminPassword(), "master")
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	token := jwt.AccessToken
	secrets := map[string]string{}
	for _, clientID := range clientIDs {
		id, err := admin.CreateClient(ctx, token, Realm, gocloak.Client{
			ClientID: gocloak.StringP(clientID), ServiceAccountsEnabled: gocloak.BoolP(true), FullScopeAllowed: gocloak.BoolP(false),
			Attributes: &map[string]string{keycloaktest.AttributeTokenExchange: "true"},
		})
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", clientID, err)
		}
		scopeID, err := admin.CreateClientScope(ctx, token, Realm, gocloak.ClientScope{Name: gocloak.StringP(clientID + "-aud"), Protocol: gocloak.StringP("openid-connect")})
		if err != nil {
			return nil, fmt.Errorf("client %s's audience scope: %w", clientID, err)
		}
		if _, err := admin.CreateClientScopeProtocolMapper(ctx, token, Realm, scopeID, gocloak.ProtocolMappers{
			Name: gocloak.StringP(clientID + " audience"), Protocol: gocloak.StringP("openid-connect"),
			ProtocolMapper: gocloak.StringP("oidc-audience-mapper"),
			ProtocolMappersConfig: &gocloak.ProtocolMappersConfig{
				IncludedClientAudience: gocloak.StringP(clientID), AccessTokenClaim: gocloak.StringP("true"), IDTokenClaim: gocloak.StringP("false"),
			},
		}); err != nil {
			return nil, fmt.Errorf("client %s's audience mapper: %w", clientID, err)
		}
		if err := admin.AddDefaultScopeToClient(ctx, token, Realm, id, scopeID); err != nil {
			return nil, fmt.Errorf("client %s's default scope: %w", clientID, err)
		}
		secret, err := admin.GetClientSecret(ctx, token, Realm, id)
		if err != nil {
			return nil, fmt.Errorf("client %s's secret: %w", clientID, err)
		}
		secrets[clientID] = gocloak.PString(secret.Value)
	}
	return secrets, nil
}

// Agent is one agent's sidecar: its files in Dir and its config.yaml.
type Agent struct {
	// Dir holds client-id.txt, client-secret.txt, routes.yaml and config/config.yaml.
	Dir string
	// ClientID is the agent's client ID (its SPIFFE ID) and Secret its client secret.
	ClientID, Secret string
	// RoutesTo is the audience of the agent's calls to 127.0.0.1.
	RoutesTo string
	// Listeners: reverse, forward, transparent, health and stats addresses.
	Reverse, Forward, Transparent, Health, Stats string
	// Backend is the agent's own server, behind the reverse proxy.
	Backend string
	// MTLS is strict, permissive, or "" for none; AllowedPeers its allowlist.
	MTLS         string
	AllowedPeers []string
	// SPIFFESocket is the Workload API (unix://...).
	SPIFFESocket string
	// Issuer is the OIDC issuer (jwt-validation, and the token endpoint under it).
	Issuer string
	// BundleServer is the bundle server's host:port; PollSeconds its polling delay.
	BundleServer string
	PollSeconds  int
	// UpstreamBundles says BundleServer is upstream's bundle-service, fetched over plain
	// HTTP (upstream_bundle_service).
	UpstreamBundles bool
	// BypassPaths are jwt-validation's, when set.
	BypassPaths []string
}

// ConfigPath is the agent's config.yaml.
func (a *Agent) ConfigPath() string { return filepath.Join(a.Dir, "config", "config.yaml") }

// StateDir keeps the agent's last good policy bundle.
func (a *Agent) StateDir() string { return filepath.Join(a.Dir, "state") }

// Write writes the agent's files and config.yaml. config.yaml is written beside and
// renamed into place, as a ConfigMap volume swaps its files.
func (a *Agent) Write() error {
	for _, d := range []string{filepath.Dir(a.ConfigPath()), a.StateDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"client-id.txt":     a.ClientID + "\n",
		"client-secret.txt": a.Secret + "\n",
		"routes.yaml":       fmt.Sprintf("- host: \"127.0.0.1\"\n  target_audience: %q\n", a.RoutesTo),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(a.Dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	tmp := a.ConfigPath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(a.Config()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.ConfigPath())
}

// Config is the agent's config.yaml: jwt-validation and opa inbound; mcp-parser,
// token-exchange and opa outbound.
func (a *Agent) Config() string {
	quote := func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = fmt.Sprintf("%q", s)
		}
		return strings.Join(q, ", ")
	}
	id := filepath.Join(a.Dir, "client-id.txt")
	poll := a.PollSeconds
	if poll == 0 {
		poll = 10
	}
	bypass := ""
	if len(a.BypassPaths) > 0 {
		bypass = ", bypass_paths: [" + quote(a.BypassPaths) + "]"
	}
	mtls := ""
	if a.MTLS != "" {
		mtls = fmt.Sprintf("mtls: {mode: %s, allowed_peers: [%s]}\n", a.MTLS, quote(a.AllowedPeers))
	}
	bundles := fmt.Sprintf("bundle_url: \"https://%s\"", a.BundleServer)
	if a.UpstreamBundles {
		bundles = fmt.Sprintf("bundle_url: \"http://%s\", upstream_bundle_service: true", a.BundleServer)
	}
	opa := fmt.Sprintf("{name: opa, config: {%s, agent_id_file: %q, polling_min_delay: %d, polling_max_delay: %d}}", bundles, id, poll, poll)
	return fmt.Sprintf(`mode: proxy-sidecar
listener:
  reverse_proxy_addr: %q
  reverse_proxy_backend: %q
  forward_proxy_addr: %q
  transparent_proxy_addr: %q
  health_addr: %q
stats: {address: %q}
session: {enabled: false}
%sspiffe: {socket: %q}
pipeline:
  inbound:
    plugins:
      - {name: jwt-validation, config: {issuer: %q, audience_file: %q%s}}
      - %s
  outbound:
    plugins:
      - mcp-parser
      - {name: token-exchange, config: {token_url: %q, identity: {type: client-secret, client_id_file: %q, client_secret_file: %q}, routes: {file: %q}}}
      - %s
`, a.Reverse, a.Backend, a.Forward, a.Transparent, a.Health, a.Stats, mtls, a.SPIFFESocket,
		a.Issuer, id, bypass, opa,
		a.Issuer+"/protocol/openid-connect/token", id, filepath.Join(a.Dir, "client-secret.txt"), filepath.Join(a.Dir, "routes.yaml"), opa)
}
