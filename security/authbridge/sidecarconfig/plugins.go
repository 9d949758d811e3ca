package sidecarconfig

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/trustsync/trustsync/security/identity"
)

// The plugins of this data plane.
const (
	PluginJWTValidation   = "jwt-validation"
	PluginTokenExchange   = "token-exchange"
	PluginA2AParser       = "a2a-parser"
	PluginMCPParser       = "mcp-parser"
	PluginInferenceParser = "inference-parser"
	PluginOPA             = "opa"
)

// LitePlugins are the plugins of the lite image (upstream's authbridge-lite, and
// `trustsync authbridge --lite`): the token plugins only.
var LitePlugins = []string{PluginJWTValidation, PluginTokenExchange}

// CheckLite refuses, each at its entry, the plugins of r that the lite image lacks; an
// entry with on_error: off is left out, as the image leaves it out unread.
func (r *Resolved) CheckLite() error {
	var p problems
	for _, s := range []ResolvedStage{r.Inbound, r.Outbound} {
		for _, pl := range s.Plugins {
			if !slices.Contains(LitePlugins, pl.Name) {
				p.add(join(pl.Field, "name"), "%s is not a plugin of the lite image (authBridgeMode lite), which has %s only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar)", pl.Name, strings.Join(LitePlugins, " and "))
			}
		}
	}
	return p.err()
}

// pluginConfig is a plugin's config block: check fills the defaults and reports what
// is wrong, with v the whole configuration for the rules that span plugins.
type pluginConfig interface {
	check(v *validation, field string)
}

// plugins maps each plugin to a new config of its type; nil for the plugins that take
// no config block.
var plugins = map[string]func() pluginConfig{
	PluginJWTValidation:   func() pluginConfig { return &JWTValidation{} },
	PluginTokenExchange:   func() pluginConfig { return &TokenExchange{} },
	PluginA2AParser:       nil,
	PluginMCPParser:       func() pluginConfig { return &MCPParser{} },
	PluginInferenceParser: nil,
	PluginOPA:             func() pluginConfig { return &OPA{} },
}

// Plugins are the names of the plugins this data plane has, sorted.
func Plugins() []string {
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Defaults the sidecar applies.
const (
	DefaultClientIDFile     = "/shared/client-id.txt"
	DefaultClientSecretFile = "/shared/client-secret.txt"
	DefaultRoutesFile       = "/etc/authproxy/routes.yaml"
	// DefaultBundleURL is trustsync's bundle server, which serves policy bundles only
	// over mutual TLS with X.509-SVIDs.
	DefaultBundleURL = "https://trustsync-bundle-server.trustsync-system.svc:8443"
	// DefaultBundleServerPath is the path of the SPIFFE ID the bundle server must
	// present, in the trust domain of the sidecar's own SVID.
	DefaultBundleServerPath = "/ns/trustsync-system/sa/trustsync-bundle-server"
)

// DefaultBypassPaths are the inbound paths jwt-validation lets through unauthenticated.
var DefaultBypassPaths = []string{"/.well-known/*", "/healthz", "/readyz", "/livez", "/metrics"}

// JWTValidation is jwt-validation's config: it validates the bearer token of inbound
// requests (signature against the JWKS, issuer, audience).
type JWTValidation struct {
	// Issuer is the exact iss of the tokens (required).
	Issuer string `yaml:"issuer" json:"issuer"`
	// JWKSURL defaults to KeycloakURL's realm certs endpoint, else Issuer's.
	JWKSURL       string `yaml:"jwks_url" json:"jwks_url"`
	KeycloakURL   string `yaml:"keycloak_url" json:"keycloak_url,omitempty"`
	KeycloakRealm string `yaml:"keycloak_realm" json:"keycloak_realm,omitempty"`
	// Audience, AudienceFile and AllowedAudiences together are the accepted audiences;
	// AudienceFile defaults to the client ID file when all three are empty.
	Audience         string   `yaml:"audience" json:"audience,omitempty"`
	AudienceFile     string   `yaml:"audience_file" json:"audience_file,omitempty"`
	AllowedAudiences []string `yaml:"allowed_audiences" json:"allowed_audiences,omitempty"`
	// AudienceMode is static (default) or per-host (the first label of the Host).
	AudienceMode    string   `yaml:"audience_mode" json:"audience_mode"`
	BypassPaths     []string `yaml:"bypass_paths" json:"bypass_paths"`
	PlaceholderMode bool     `yaml:"placeholder_mode" json:"placeholder_mode,omitempty"`
	// PlaceholderTTL defaults to 1h.
	PlaceholderTTL Duration `yaml:"placeholder_ttl" json:"placeholder_ttl,omitempty"`
}

func (c *JWTValidation) check(v *validation, field string) {
	p := v.p
	if c.Issuer == "" {
		p.add(join(field, "issuer"), "required: the exact iss of the tokens to accept")
	}
	if c.JWKSURL == "" {
		switch {
		case c.KeycloakURL != "" && c.KeycloakRealm != "":
			c.JWKSURL = strings.TrimRight(c.KeycloakURL, "/") + "/realms/" + c.KeycloakRealm + "/protocol/openid-connect/certs"
		case c.Issuer != "":
			c.JWKSURL = strings.TrimRight(c.Issuer, "/") + "/protocol/openid-connect/certs"
		}
	} else {
		checkURL(p, join(field, "jwks_url"), c.JWKSURL)
	}
	if c.KeycloakURL != "" {
		checkURL(p, join(field, "keycloak_url"), c.KeycloakURL)
	}
	switch c.AudienceMode {
	case "":
		c.AudienceMode = "static"
	case "static", "per-host":
	default:
		p.add(join(field, "audience_mode"), "unknown value %q; valid values are static, per-host", c.AudienceMode)
	}
	if c.AudienceMode == "static" && c.Audience == "" && c.AudienceFile == "" && len(c.AllowedAudiences) == 0 {
		c.AudienceFile = DefaultClientIDFile
	}
	if c.AudienceFile != "" {
		checkAbsPath(p, join(field, "audience_file"), c.AudienceFile)
	}
	if len(c.BypassPaths) == 0 {
		c.BypassPaths = slices.Clone(DefaultBypassPaths)
	}
	c.BypassPaths = checkPathPatterns(p, join(field, "bypass_paths"), c.BypassPaths)
	if c.PlaceholderTTL == 0 {
		c.PlaceholderTTL = Duration(time.Hour)
	}
}

// TokenExchange is token-exchange's config: it exchanges the bearer token of outbound
// requests for one for the destination (RFC 8693), per route.
type TokenExchange struct {
	// TokenURL defaults to the provider's endpoint for ProviderURL and ProviderRealm.
	TokenURL string `yaml:"token_url" json:"token_url"`
	// Provider is keycloak or generic (token_url given).
	Provider      string `yaml:"provider" json:"provider,omitempty"`
	ProviderURL   string `yaml:"provider_url" json:"provider_url,omitempty"`
	ProviderRealm string `yaml:"provider_realm" json:"provider_realm,omitempty"`
	// KeycloakURL and KeycloakRealm are the deprecated spelling of provider keycloak
	// with ProviderURL and ProviderRealm.
	KeycloakURL   string `yaml:"keycloak_url" json:"keycloak_url,omitempty"`
	KeycloakRealm string `yaml:"keycloak_realm" json:"keycloak_realm,omitempty"`
	// DefaultPolicy is for hosts no route matches: passthrough (default) or exchange.
	DefaultPolicy string `yaml:"default_policy" json:"default_policy"`
	// NoTokenPolicy is for requests without a token: deny (default), allow or
	// client-credentials.
	NoTokenPolicy       string                `yaml:"no_token_policy" json:"no_token_policy"`
	Identity            TokenExchangeIdentity `yaml:"identity" json:"identity"`
	Routes              TokenExchangeRoutes   `yaml:"routes" json:"routes"`
	AudienceFromHost    bool                  `yaml:"audience_from_host" json:"audience_from_host,omitempty"`
	ResolvePlaceholders bool                  `yaml:"resolve_placeholders" json:"resolve_placeholders,omitempty"`
}

// TokenExchangeIdentity is how the sidecar authenticates to the token endpoint.
type TokenExchangeIdentity struct {
	// Type is client-secret or spiffe (a JWT-SVID as client assertion).
	Type         string `yaml:"type" json:"type"`
	ClientID     string `yaml:"client_id" json:"client_id,omitempty"`
	ClientIDFile string `yaml:"client_id_file" json:"client_id_file,omitempty"`
	// ClientSecret is refused: a ConfigMap is no place for it.
	ClientSecret     Secret `yaml:"client_secret" json:"client_secret,omitempty"`
	ClientSecretFile string `yaml:"client_secret_file" json:"client_secret_file,omitempty"`
	// JWTAudience is the audience of the JWT-SVID (required for spiffe).
	JWTAudience string `yaml:"jwt_audience" json:"jwt_audience,omitempty"`
	// AssertionType is jwt-spiffe (default for spiffe) or jwt-bearer.
	AssertionType string `yaml:"assertion_type" json:"assertion_type,omitempty"`
}

// TokenExchangeRoutes are the routes: the file's first, then the inline rules.
type TokenExchangeRoutes struct {
	File  string        `yaml:"file" json:"file"`
	Rules []InlineRoute `yaml:"rules" json:"rules,omitempty"`
}

// InlineRoute is a route in the config; unlike routes.yaml it reads the legacy
// passthrough flag.
type InlineRoute struct {
	Host           string `yaml:"host" json:"host"`
	TargetAudience string `yaml:"target_audience" json:"target_audience,omitempty"`
	TokenScopes    string `yaml:"token_scopes" json:"token_scopes,omitempty"`
	TokenURL       string `yaml:"token_url" json:"token_url,omitempty"`
	Action         string `yaml:"action" json:"action"`
	Passthrough    bool   `yaml:"passthrough" json:"-"`
}

func (c *TokenExchange) check(v *validation, field string) {
	p := v.p
	if c.KeycloakURL != "" || c.KeycloakRealm != "" {
		if c.Provider == "" {
			c.Provider = "keycloak"
		}
		if c.ProviderURL == "" {
			c.ProviderURL = c.KeycloakURL
		}
		if c.ProviderRealm == "" {
			c.ProviderRealm = c.KeycloakRealm
		}
		p.warn(field, "keycloak_url and keycloak_realm are deprecated; write provider: keycloak, provider_url and provider_realm")
	}
	switch c.Provider {
	case "", "generic":
	case "keycloak":
		if c.TokenURL == "" && c.ProviderURL != "" && c.ProviderRealm != "" {
			c.TokenURL = strings.TrimRight(c.ProviderURL, "/") + "/realms/" + c.ProviderRealm + "/protocol/openid-connect/token"
		}
	default:
		p.add(join(field, "provider"), "unknown value %q; valid values are keycloak, generic", c.Provider)
	}
	if c.ProviderURL != "" {
		checkURL(p, join(field, "provider_url"), c.ProviderURL)
	}
	if c.TokenURL == "" {
		p.add(join(field, "token_url"), "required, unless provider keycloak with provider_url and provider_realm (or keycloak_url and keycloak_realm) gives it")
	} else {
		checkURL(p, join(field, "token_url"), c.TokenURL)
	}
	switch c.DefaultPolicy {
	case "":
		c.DefaultPolicy = ActionPassthrough
	case ActionPassthrough, ActionExchange:
	default:
		p.add(join(field, "default_policy"), "unknown value %q; valid values are passthrough, exchange", c.DefaultPolicy)
	}
	switch c.NoTokenPolicy {
	case "":
		c.NoTokenPolicy = "deny"
	case "deny", "allow", "client-credentials":
	default:
		p.add(join(field, "no_token_policy"), "unknown value %q; valid values are deny, allow, client-credentials", c.NoTokenPolicy)
	}
	c.checkIdentity(v, join(field, "identity"))

	if c.Routes.File == "" {
		c.Routes.File = DefaultRoutesFile
	}
	checkAbsPath(p, join(join(field, "routes"), "file"), c.Routes.File)
	for i, r := range c.Routes.Rules {
		rf := index(join(join(field, "routes"), "rules"), i)
		if r.Passthrough && r.Action == ActionExchange {
			p.add(join(rf, "passthrough"), "contradicts action: exchange; keep one")
		}
		got := checkRoute(p, rf, Route{Host: r.Host, TargetAudience: r.TargetAudience, TokenScopes: r.TokenScopes, TokenURL: r.TokenURL, Action: r.Action}, r.Passthrough)
		c.Routes.Rules[i].Action = got.Action
	}
}

func (c *TokenExchange) checkIdentity(v *validation, field string) {
	p, id := v.p, &c.Identity
	switch id.Type {
	case "":
		// Upstream refuses a token-exchange without an identity type; trustsync's
		// agents always have the client-secret files, and a wrong guess only fails
		// the exchange.
		id.Type = "client-secret"
		p.warn(join(field, "type"), "not set; this data plane uses client-secret (the credentials trustsync mounts in /shared), upstream AuthBridge refuses to start without it")
	case "client-secret", "spiffe":
	default:
		p.add(join(field, "type"), "unknown value %q; valid values are client-secret, spiffe", id.Type)
	}
	if id.ClientID == "" && id.ClientIDFile == "" {
		id.ClientIDFile = DefaultClientIDFile
	}
	if id.ClientIDFile != "" {
		checkAbsPath(p, join(field, "client_id_file"), id.ClientIDFile)
	}
	if id.ClientSecret != "" {
		p.add(join(field, "client_secret"), "a secret written in config.yaml is readable by everyone who may read the ConfigMap (and the Git repository); give client_secret_file instead")
	}
	switch id.Type {
	case "client-secret":
		if id.ClientSecretFile == "" {
			id.ClientSecretFile = DefaultClientSecretFile
		}
		checkAbsPath(p, join(field, "client_secret_file"), id.ClientSecretFile)
		if id.JWTAudience != "" || id.AssertionType != "" {
			p.add(field, "jwt_audience and assertion_type are for type spiffe; type client-secret ignores them")
		}
	case "spiffe":
		if id.JWTAudience == "" {
			p.add(join(field, "jwt_audience"), "required for type spiffe: the audience of the JWT-SVID sent as client assertion")
		}
		switch id.AssertionType {
		case "":
			id.AssertionType = "jwt-spiffe"
		case "jwt-spiffe", "jwt-bearer":
		default:
			p.add(join(field, "assertion_type"), "unknown value %q; valid values are jwt-spiffe, jwt-bearer", id.AssertionType)
		}
		if v.cfg.SPIFFE == nil {
			p.add(join(field, "type"), "spiffe needs a JWT-SVID, and the configuration has no spiffe block")
		}
		if id.ClientSecretFile != "" {
			p.add(join(field, "client_secret_file"), "type spiffe sends no client secret")
		}
	}
}

// MCPParser is mcp-parser's config.
type MCPParser struct {
	// Paths are the MCP endpoints (path.Match globs) where body-less requests are MCP
	// transport events; default /mcp.
	Paths []string `yaml:"paths" json:"paths"`
}

func (c *MCPParser) check(v *validation, field string) {
	if len(c.Paths) == 0 {
		c.Paths = []string{"/mcp"}
	}
	c.Paths = checkPathPatterns(v.p, join(field, "paths"), c.Paths)
}

// OPA is opa's config: it decides requests with the identity's policy bundle.
type OPA struct {
	// BundleURL is the bundle server (default trustsync's). It must be https: trustsync
	// serves bundles only over mutual TLS, with the sidecar's SVID; with
	// UpstreamBundleService, http too.
	BundleURL string `yaml:"bundle_url" json:"bundle_url"`
	// UpstreamBundleService says BundleURL is upstream's (Kagenti's) bundle-service, as
	// upstream's sidecar fetches from it: no client certificate, and over plain HTTP when
	// the URL is http (anyone on the path can then change the policy). It is never
	// inferred from the URL: an http URL without it is refused.
	UpstreamBundleService bool `yaml:"upstream_bundle_service" json:"upstream_bundle_service,omitempty"`
	// BundleServerID is the SPIFFE ID the bundle server must present; default
	// spiffe://<the SVID's trust domain>/ns/trustsync-system/sa/trustsync-bundle-server.
	BundleServerID string `yaml:"bundle_server_id" json:"bundle_server_id,omitempty"`
	AgentID        string `yaml:"agent_id" json:"agent_id,omitempty"`
	// AgentIDFile defaults to the client ID file when AgentID is empty.
	AgentIDFile string `yaml:"agent_id_file" json:"agent_id_file,omitempty"`
	// PollingMinDelay and PollingMaxDelay are seconds between bundle polls (10, 120).
	PollingMinDelay int `yaml:"polling_min_delay" json:"polling_min_delay"`
	PollingMaxDelay int `yaml:"polling_max_delay" json:"polling_max_delay"`
	// Include adds optional parts of the request to the policy input.
	Include []string `yaml:"include" json:"include,omitempty"`
}

// opaIncludes are the optional input groups; mcp.params.<key> adds one MCP parameter.
var opaIncludes = []string{"a2a.content", "inference.completion", "inference.messages", "inference.tool_calls", "inference.tools.detail", "mcp.error", "mcp.params", "mcp.result"}

func (c *OPA) check(v *validation, field string) {
	p := v.p
	switch {
	case c.UpstreamBundleService && c.BundleURL == "":
		p.add(join(field, "bundle_url"), "upstream_bundle_service needs the service's URL, e.g. http://bundle-service.kagenti-system.svc.cluster.local:8080")
	case c.BundleURL == "":
		c.BundleURL = DefaultBundleURL
	}
	if u, err := url.Parse(c.BundleURL); err == nil && u.User != nil {
		p.add(join(field, "bundle_url"), "credentials in a URL are refused")
	} else if c.UpstreamBundleService && c.BundleURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		p.add(join(field, "bundle_url"), "%q: want an http or https URL of upstream's bundle-service", c.BundleURL)
	} else if !c.UpstreamBundleService && (err != nil || u.Scheme != "https" || u.Host == "") {
		p.add(join(field, "bundle_url"), "%q: want an https URL: trustsync serves bundles only over mutual TLS (upstream's bundle-service over plain HTTP needs upstream_bundle_service: true)", c.BundleURL)
	}
	if c.BundleServerID != "" {
		if c.UpstreamBundleService {
			p.add(join(field, "bundle_server_id"), "upstream's bundle-service presents no SPIFFE ID: set one or the other")
		} else if _, err := identity.Parse(c.BundleServerID); err != nil {
			p.add(join(field, "bundle_server_id"), "%v", err)
		}
	}
	if v.cfg.SPIFFE == nil {
		p.add(field, "opa fetches its bundle over mutual TLS with the pod's X.509-SVID, and the configuration has no spiffe block (SPIRE is off for this agent)")
	}
	if c.AgentID == "" && c.AgentIDFile == "" {
		c.AgentIDFile = DefaultClientIDFile
	}
	if c.AgentIDFile != "" {
		checkAbsPath(p, join(field, "agent_id_file"), c.AgentIDFile)
	}
	for _, d := range []struct {
		key   string
		value *int
		def   int
	}{{"polling_min_delay", &c.PollingMinDelay, 10}, {"polling_max_delay", &c.PollingMaxDelay, 120}} {
		switch {
		case *d.value < 0:
			p.add(join(field, d.key), "%d: must not be negative", *d.value)
		case *d.value == 0:
			*d.value = d.def
		}
	}
	if c.PollingMinDelay > c.PollingMaxDelay {
		p.add(join(field, "polling_min_delay"), "%d is more than polling_max_delay %d", c.PollingMinDelay, c.PollingMaxDelay)
	}
	for i, inc := range c.Include {
		if !slices.Contains(opaIncludes, inc) && !(strings.HasPrefix(inc, "mcp.params.") && len(inc) > len("mcp.params.")) {
			p.add(index(join(field, "include"), i), "unknown value %q; valid values are %s, mcp.params.<key>", inc, strings.Join(opaIncludes, ", "))
		}
	}
	v.opas = append(v.opas, opaInstance{field, c})
}

// checkPathPatterns checks path.Match patterns as the sidecar compiles them (trimmed)
// and returns them trimmed.
func checkPathPatterns(p *problems, field string, patterns []string) []string {
	out := make([]string, len(patterns))
	for i, raw := range patterns {
		f := index(field, i)
		pat := strings.TrimSpace(raw)
		out[i] = pat
		switch {
		case pat == "" || pat == "*" || pat == "/*":
			p.add(f, "%q is too broad; name the paths", raw)
		case !strings.HasPrefix(pat, "/"):
			p.add(f, "%q does not start with /, so it matches no request path", raw)
		default:
			if _, err := path.Match(pat, "/"); err != nil {
				p.add(f, "%q is not a valid path pattern", raw)
			}
		}
	}
	return out
}

// checkURL refuses what is no http(s) URL with a host.
func checkURL(p *problems, field, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.User != nil:
		p.add(field, "credentials in a URL are refused") // and not repeated here
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add(field, "%q is not an http or https URL", raw)
	}
}

func checkAbsPath(p *problems, field, file string) {
	if !strings.HasPrefix(file, "/") {
		p.add(field, "%q: want an absolute path", file)
	}
}
