package v1alpha1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/redact"
)

// Platform defaults.
const (
	DefaultPlatformNamespace = "trustsync-system"
	DefaultTrustDomain       = "localtest.me"
	DefaultKeycloakURL       = "http://keycloak-service.keycloak.svc:8080"
	DefaultKeycloakRealm     = "kagenti"
	DefaultKeycloakNamespace = "keycloak"
	DefaultClientAuthType    = "client-secret"
	DefaultSPIFFEIDPAlias    = "spire-spiffe"
	DefaultSpireSocketPath   = "unix:///spiffe-workload-api/spire-agent.sock"
	// DefaultAuthBridgeImage and DefaultAuthBridgeLiteImage are trustsync's own image,
	// whose `trustsync authbridge` is the proxy sidecar (with --lite, the lite plugin
	// set); upstream's authbridge and authbridge-lite images stay selectable.
	DefaultAuthBridgeImage       = "ghcr.io/trustsync/trustsync:latest"
	DefaultAuthBridgeLiteImage   = "ghcr.io/trustsync/trustsync:latest"
	UpstreamAuthBridgeImage      = "ghcr.io/kagenti/kagenti-extensions/authbridge:latest"
	UpstreamAuthBridgeLiteImage  = "ghcr.io/kagenti/kagenti-extensions/authbridge-lite:latest"
	DefaultAuthBridgeEnvoyImage  = "ghcr.io/kagenti/kagenti-extensions/authbridge-envoy:latest"
	DefaultProxyInitImage        = "ghcr.io/kagenti/kagenti-extensions/proxy-init:latest"
	DefaultClientRegistrationImg = "ghcr.io/kagenti/kagenti-extensions/client-registration:latest"
	DefaultAuthBridgeMode        = "proxy-sidecar"
	DefaultEgressEnforcement     = "enforce-redirect"
)

// ClientAuthTypes are the valid keycloak.clientAuthType values.
var ClientAuthTypes = []string{"client-secret", "federated-jwt"}

// trustDomainPattern follows the SPIFFE spec: lower-case letters, digits, dots, dashes
// and underscores.
var trustDomainPattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

// DefaultPlatform returns a Platform with every default applied.
func DefaultPlatform() *Platform {
	p := &Platform{}
	p.Default()
	return p
}

// Default fills every unset field with its default.
func (p *Platform) Default() {
	if p.APIVersion == "" {
		p.APIVersion = GroupVersion.String()
	}
	if p.Kind == "" {
		p.Kind = PlatformKind
	}
	setString(&p.Namespace, DefaultPlatformNamespace)
	if len(p.Families) == 0 {
		p.Families = []string{agentv1.Kagenti.Name}
	}
	setString(&p.TrustDomain, DefaultTrustDomain)
	k := &p.Keycloak
	setString(&k.URL, DefaultKeycloakURL)
	setString(&k.PublicURL, k.URL)
	setString(&k.Realm, DefaultKeycloakRealm)
	setString(&k.Namespace, DefaultKeycloakNamespace)
	setString(&k.ClientAuthType, DefaultClientAuthType)
	setString(&k.SPIFFEIDPAlias, DefaultSPIFFEIDPAlias)
	setBool(&k.TokenExchange, true)
	setBool(&p.FeatureGates.GlobalEnabled, true)
	setBool(&p.FeatureGates.EnvoyProxy, true)
	setBool(&p.FeatureGates.ClientRegistration, true)
	setBool(&p.Spire.Enabled, true)
	setString(&p.Spire.SocketPath, DefaultSpireSocketPath)
	i := &p.Images
	setString(&i.AuthBridge, DefaultAuthBridgeImage)
	setString(&i.AuthBridgeLite, DefaultAuthBridgeLiteImage)
	setString(&i.AuthBridgeEnvoy, DefaultAuthBridgeEnvoyImage)
	setString(&i.ProxyInit, DefaultProxyInitImage)
	setString(&i.ClientRegistration, DefaultClientRegistrationImg)
	setString(&p.Defaults.AuthBridgeMode, DefaultAuthBridgeMode)
	setString(&p.Defaults.EgressEnforcement, DefaultEgressEnforcement)
	p.Limits.Default()
}

// Validate reports every invalid field, each error naming the field.
func (p *Platform) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if p.APIVersion != GroupVersion.String() {
		bad("apiVersion", "must be %s, got %q", GroupVersion, p.APIVersion)
	}
	if p.Kind != PlatformKind {
		bad("kind", "must be %s, got %q", PlatformKind, p.Kind)
	}
	for i, name := range p.Families {
		if _, ok := agentv1.FamilyByName(name); !ok {
			bad(fmt.Sprintf("families[%d]", i), "%q is not a family; families are %s", name, strings.Join(agentv1.FamilyNames(), ", "))
		} else if slices.Contains(p.Families[:i], name) {
			bad(fmt.Sprintf("families[%d]", i), "%q is listed twice", name)
		}
	}
	for _, msg := range validation.IsDNS1123Label(p.Namespace) {
		bad("namespace", "%q: %s", p.Namespace, msg)
	}
	if !trustDomainPattern.MatchString(p.TrustDomain) || len(p.TrustDomain) > 255 {
		bad("trustDomain", "%q is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')", p.TrustDomain)
	}
	for field, raw := range map[string]string{"keycloak.url": p.Keycloak.URL, "keycloak.publicURL": p.Keycloak.PublicURL} {
		// Quoted without its userinfo: a refusal must not print the password it refuses.
		shown := redact.String(raw)
		userinfo, _ := redact.URLUserinfo(raw) // on the text: a password with '/' does not parse
		switch u, err := url.Parse(raw); {
		case userinfo || (err == nil && u.User != nil):
			// It is written into every agent's ConfigMap and the issuer tokens carry.
			bad(field, "%q must not carry credentials (user:password@): trustsync's Keycloak credentials are a Secret", shown)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad(field, "%q is not an http(s) URL", shown)
		case u.RawQuery != "" || u.Fragment != "":
			bad(field, "%q must not have a query or fragment: paths are appended to it", shown)
		}
	}
	if strings.ContainsAny(p.Keycloak.Realm, "/ ") {
		bad("keycloak.realm", "%q must not contain '/' or spaces", p.Keycloak.Realm)
	}
	if !slices.Contains(ClientAuthTypes, p.Keycloak.ClientAuthType) {
		bad("keycloak.clientAuthType", "%q is not one of %s", p.Keycloak.ClientAuthType, strings.Join(ClientAuthTypes, ", "))
	}
	if !strings.HasPrefix(p.Spire.SocketPath, "unix://") {
		bad("spire.socketPath", "%q must be a unix:// address", p.Spire.SocketPath)
	}
	modes := []string{"proxy-sidecar", "envoy-sidecar", "lite", "waypoint"}
	if !slices.Contains(modes, p.Defaults.AuthBridgeMode) {
		bad("defaults.authBridgeMode", "%q is not one of %s", p.Defaults.AuthBridgeMode, strings.Join(modes, ", "))
	}
	egress := []string{"enforce-redirect", "none"}
	if !slices.Contains(egress, p.Defaults.EgressEnforcement) {
		bad("defaults.egressEnforcement", "%q is not one of %s", p.Defaults.EgressEnforcement, strings.Join(egress, ", "))
	}
	for i, m := range p.Defaults.AllowedEgressEnforcement {
		if !slices.Contains(egress, m) {
			bad(fmt.Sprintf("defaults.allowedEgressEnforcement[%d]", i), "%q is not one of %s", m, strings.Join(egress, ", "))
		}
	}
	for field, image := range map[string]string{
		"images.authbridge": p.Images.AuthBridge, "images.authbridgeLite": p.Images.AuthBridgeLite,
		"images.authbridgeEnvoy": p.Images.AuthBridgeEnvoy, "images.proxyInit": p.Images.ProxyInit,
		"images.clientRegistration": p.Images.ClientRegistration,
	} {
		if strings.ContainsAny(image, " \t\n") {
			bad(field, "%q is not an image reference", image)
		}
	}
	if p.Kustomize.AllowRemoteBases {
		bad("kustomize.allowRemoteBases", "remote bases are not supported: a render reads only the revision's own tree, never the network; vendor the base into the repository")
	}
	p.Limits.validate(bad)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// ParsePlatform decodes a Platform document strictly (unknown fields are errors), applies
// defaults and validates it. name is used in error messages.
func ParsePlatform(name string, data []byte) (*Platform, error) {
	p := &Platform{}
	if n := documents(data); n > 1 {
		return nil, fmt.Errorf("%s: holds %d YAML documents; a Platform file is one document", name, n)
	}
	// Strict: a second trustDomain must not silently win over the first.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Case-sensitive and strict, unlike encoding/json: "trustdomain" is a typo, not
	// trustDomain.
	strict, err := kjson.UnmarshalStrict(js, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(strict) > 0 {
		return nil, prefixLines(name, errors.Join(strict...))
	}
	p.Default()
	if err := p.Validate(); err != nil {
		return nil, prefixLines(name, err)
	}
	return p, nil
}

// LoadPlatform reads a Platform file; an empty path gives the defaults.
func LoadPlatform(path string) (*Platform, error) {
	if path == "" {
		return DefaultPlatform(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading platform file: %w", err)
	}
	return ParsePlatform(path, data)
}

// EnabledFamilies are the families the platform reads, in the order of its families:
// the first is the family of what trustsync generates for the platform as a whole.
func (p *Platform) EnabledFamilies() []agentv1.Family {
	var out []agentv1.Family
	for _, name := range p.Families {
		if f, ok := agentv1.FamilyByName(name); ok {
			out = append(out, f)
		}
	}
	if len(p.Families) == 0 { // an undefaulted Platform reads what the default one does
		out = []agentv1.Family{agentv1.Kagenti}
	}
	return out
}

// FamilyEnabled says whether the platform reads the family.
func (p *Platform) FamilyEnabled(f agentv1.Family) bool {
	return slices.Contains(p.EnabledFamilies(), f)
}

// PlatformFamily is the family of what trustsync generates for the platform as a whole
// (the default global policy, the feature gates' family ConfigMap): the first enabled.
func (p *Platform) PlatformFamily() agentv1.Family { return p.EnabledFamilies()[0] }

// SPIREEnabled reports whether SPIRE is part of the platform.
func (p *Platform) SPIREEnabled() bool { return boolOr(p.Spire.Enabled, true) }

// InjectionEnabled reports the globalEnabled kill switch.
func (p *Platform) InjectionEnabled() bool { return boolOr(p.FeatureGates.GlobalEnabled, true) }

// EnvoyProxyEnabled reports the envoyProxy gate.
func (p *Platform) EnvoyProxyEnabled() bool { return boolOr(p.FeatureGates.EnvoyProxy, true) }

// ClientRegistrationEnabled reports the clientRegistration gate.
func (p *Platform) ClientRegistrationEnabled() bool {
	return boolOr(p.FeatureGates.ClientRegistration, true)
}

// TokenExchangeEnabled reports whether agent clients allow token exchange.
func (p *Platform) TokenExchangeEnabled() bool { return boolOr(p.Keycloak.TokenExchange, true) }

// Issuer is the OIDC issuer of the realm's tokens.
func (p *Platform) Issuer() string {
	return strings.TrimRight(p.Keycloak.PublicURL, "/") + "/realms/" + p.Keycloak.Realm
}

// documents counts the YAML documents of data; empty documents ("---" alone) count too,
// so a stray separator with a second Platform after it is not missed.
func documents(data []byte) int {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	n := 0
	for ; n < 100; n++ {
		var node yamlv3.Node
		if err := dec.Decode(&node); err != nil {
			if errors.Is(err, io.EOF) {
				return n
			}
			return n + 1 // the strict decode below reports the syntax error
		}
	}
	return n
}

func prefixLines(name string, err error) error {
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, fmt.Errorf("%s: %s", name, line))
	}
	return errors.Join(out...)
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setBool(b **bool, def bool) {
	if *b == nil {
		*b = &def
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// ForCluster is the platform a member cluster's revisions are rendered with: p with
// what the cluster's spec.platform sets. p is not changed.
func (p *Platform) ForCluster(c *ClusterPlatform) *Platform {
	out := p.DeepCopy()
	if c == nil {
		return out
	}
	if c.TrustDomain != "" {
		out.TrustDomain = c.TrustDomain
	}
	if k := c.Keycloak; k != nil {
		if k.URL != "" {
			if out.Keycloak.PublicURL == out.Keycloak.URL {
				out.Keycloak.PublicURL = k.URL
			}
			out.Keycloak.URL = k.URL
		}
		if k.Realm != "" {
			out.Keycloak.Realm = k.Realm
		}
	}
	if c.SpireEnabled != nil {
		out.Spire.Enabled = c.SpireEnabled
	}
	if g := c.FeatureGates; g != nil {
		out.FeatureGates = *g.DeepCopy()
	}
	out.Default()
	return out
}
