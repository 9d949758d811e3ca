package keycloak

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Client authentication types of agent clients.
const (
	// AuthClientSecret: the agent authenticates with the client secret of its Secret.
	AuthClientSecret = "client-secret"
	// AuthFederatedJWT: the agent authenticates with its JWT-SVID, which Keycloak checks
	// through the SPIFFE identity provider; the client has no secret.
	AuthFederatedJWT = "federated-jwt"
)

// Defaults of Options, Kagenti's.
const (
	DefaultRealm             = "kagenti"
	DefaultAdminRealm        = "master"
	DefaultAdminSecretName   = "keycloak-initial-admin"
	DefaultAdminSecretNS     = "keycloak"
	DefaultAdminUsernameKey  = "username"
	DefaultAdminPasswordKey  = "password"
	DefaultSPIFFEIDPAlias    = "spire-spiffe"
	DefaultPlatformClientID  = "kagenti"
	DefaultRequestTimeout    = 10 * time.Second
	DefaultTokenExpiryMargin = 10 * time.Second
)

// Options configure a Registrar. Zero values take the defaults.
type Options struct {
	// URL of Keycloak, e.g. http://keycloak-service.keycloak.svc:8080. Required.
	URL string
	// Realm agents are registered in; kagenti.
	Realm string
	// AdminRealm the admin logs in to; master.
	AdminRealm string
	// AdminSecret holds the admin's username and password; keycloak/keycloak-initial-admin.
	AdminSecret types.NamespacedName
	// AdminUsernameKey and AdminPasswordKey are its keys; username and password.
	AdminUsernameKey, AdminPasswordKey string
	// ClientAuthType of agent clients: client-secret (default) or federated-jwt.
	ClientAuthType string
	// SPIFFEIDPAlias is the Keycloak identity provider that checks JWT-SVIDs, for
	// federated-jwt; spire-spiffe.
	SPIFFEIDPAlias string
	// TokenExchange lets agents exchange tokens (RFC 8693); on when nil.
	TokenExchange *bool
	// PlatformClientIDs are clients (the UI's) that get every agent's audience scope, so
	// the tokens they obtain for users can be sent to agents; [kagenti] when nil, none
	// when empty.
	PlatformClientIDs []string
	// RequestTimeout bounds each request to Keycloak; 10s.
	RequestTimeout time.Duration
	// TokenExpiryMargin: the admin token is renewed this long before it expires (at most
	// half its lifetime); 10s.
	TokenExpiryMargin time.Duration
}

// OptionsFromPlatform takes Keycloak's location and client settings from the platform
// configuration; the admin Secret is keycloak-initial-admin in Keycloak's namespace.
func OptionsFromPlatform(p *gitopsv1.Platform) Options {
	o := Options{
		URL:            p.Keycloak.URL,
		Realm:          p.Keycloak.Realm,
		AdminSecret:    types.NamespacedName{Namespace: p.Keycloak.Namespace, Name: DefaultAdminSecretName},
		ClientAuthType: p.Keycloak.ClientAuthType,
		SPIFFEIDPAlias: p.Keycloak.SPIFFEIDPAlias,
	}
	te := p.TokenExchangeEnabled()
	o.TokenExchange = &te
	return o
}

func (o *Options) defaults() {
	set := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	set(&o.Realm, DefaultRealm)
	set(&o.AdminRealm, DefaultAdminRealm)
	set(&o.AdminSecret.Name, DefaultAdminSecretName)
	set(&o.AdminSecret.Namespace, DefaultAdminSecretNS)
	set(&o.AdminUsernameKey, DefaultAdminUsernameKey)
	set(&o.AdminPasswordKey, DefaultAdminPasswordKey)
	set(&o.ClientAuthType, AuthClientSecret)
	set(&o.SPIFFEIDPAlias, DefaultSPIFFEIDPAlias)
	if o.TokenExchange == nil {
		on := true
		o.TokenExchange = &on
	}
	if o.PlatformClientIDs == nil {
		o.PlatformClientIDs = []string{DefaultPlatformClientID}
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.TokenExpiryMargin == 0 {
		o.TokenExpiryMargin = DefaultTokenExpiryMargin
	}
}

func (o *Options) validate() error {
	var problems []string
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("url: %q is not an http(s) URL", o.URL))
	}
	for field, v := range map[string]string{"realm": o.Realm, "adminRealm": o.AdminRealm} {
		if strings.ContainsAny(v, "/ ") {
			problems = append(problems, fmt.Sprintf("%s: %q must not contain '/' or spaces", field, v))
		}
	}
	if !slices.Contains([]string{AuthClientSecret, AuthFederatedJWT}, o.ClientAuthType) {
		problems = append(problems, fmt.Sprintf("clientAuthType: %q is not one of %s, %s", o.ClientAuthType, AuthClientSecret, AuthFederatedJWT))
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("keycloak options: %s", strings.Join(problems, "; "))
}
