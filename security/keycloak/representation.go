package keycloak

import (
	"encoding/json"
	"reflect"
	"sort"

	"github.com/Nerzal/gocloak/v13"

	"github.com/trustsync/trustsync/security/agentid"
)

// Client attributes an agent client carries.
const (
	AttributeTokenExchange     = "standard.token.exchange.enabled"
	AttributeJWTCredentialIss  = "jwt.credential.issuer"
	AttributeJWTCredentialSub  = "jwt.credential.sub"
	audienceMapperType         = "oidc-audience-mapper"
	audienceMapperName         = "audience"
	protocolOIDC               = "openid-connect"
	attributeIncludeTokenScope = "include.in.token.scope"
)

// Agent is one agent to register.
type Agent struct {
	Namespace string
	// Workload is the name of the agent's Deployment, StatefulSet or Sandbox.
	Workload string
	// ClientID in Keycloak (see ClientID).
	ClientID string
}

func (a Agent) String() string { return a.Namespace + "/" + a.Workload }

// DesiredClient is the representation of an agent's client, as Kagenti registers it: a
// confidential client with the standard flow, direct access grants and a service
// account, no full scope, authenticated by secret or by JWT-SVID, token exchange as
// configured. Fields left nil are not the registrar's business: others may set them.
func DesiredClient(a Agent, o Options) gocloak.Client {
	o.defaults()
	attrs := map[string]string{AttributeTokenExchange: boolString(*o.TokenExchange)}
	if o.ClientAuthType == AuthFederatedJWT {
		attrs[AttributeJWTCredentialIss] = o.SPIFFEIDPAlias
		attrs[AttributeJWTCredentialSub] = a.ClientID
	}
	return gocloak.Client{
		ClientID:                  gocloak.StringP(a.ClientID),
		Name:                      gocloak.StringP(agentid.ClientName(a.Namespace, a.Workload)),
		Enabled:                   gocloak.BoolP(true),
		Protocol:                  gocloak.StringP(protocolOIDC),
		PublicClient:              gocloak.BoolP(false),
		BearerOnly:                gocloak.BoolP(false),
		StandardFlowEnabled:       gocloak.BoolP(true),
		DirectAccessGrantsEnabled: gocloak.BoolP(true),
		ServiceAccountsEnabled:    gocloak.BoolP(true),
		FullScopeAllowed:          gocloak.BoolP(false),
		ClientAuthenticatorType:   gocloak.StringP(o.ClientAuthType),
		Attributes:                &attrs,
	}
}

// DesiredAudienceScope is the client scope whose mapper adds the agent's client ID to
// the audience of access tokens.
func DesiredAudienceScope(a Agent) gocloak.ClientScope {
	return gocloak.ClientScope{
		Name:        gocloak.StringP(agentid.AudienceScopeName(a.Namespace, a.Workload)),
		Description: gocloak.StringP("Adds " + a.ClientID + " to the audience of access tokens"),
		Protocol:    gocloak.StringP(protocolOIDC),
		ClientScopeAttributes: &gocloak.ClientScopeAttributes{
			IncludeInTokenScope:    gocloak.StringP("false"),
			DisplayOnConsentScreen: gocloak.StringP("false"),
		},
	}
}

// DesiredAudienceMapper is the scope's oidc-audience-mapper.
func DesiredAudienceMapper(a Agent) gocloak.ProtocolMappers {
	return gocloak.ProtocolMappers{
		Name:            gocloak.StringP(audienceMapperName),
		Protocol:        gocloak.StringP(protocolOIDC),
		ProtocolMapper:  gocloak.StringP(audienceMapperType),
		ConsentRequired: gocloak.BoolP(false),
		ProtocolMappersConfig: &gocloak.ProtocolMappersConfig{
			IncludedClientAudience: gocloak.StringP(a.ClientID),
			AccessTokenClaim:       gocloak.StringP("true"),
			IDTokenClaim:           gocloak.StringP("false"),
		},
	}
}

// Drift lists the fields of want that live does not match, as JSON names
// (attributes per key: "attributes.standard.token.exchange.enabled"), sorted. Fields want
// leaves unset are not compared.
func Drift(live, want any) []string {
	l, w := toMap(live), toMap(want)
	var out []string
	for k, wv := range w {
		if wm, ok := wv.(map[string]any); ok {
			lm, _ := l[k].(map[string]any)
			for ak, av := range wm {
				if !reflect.DeepEqual(lm[ak], av) {
					out = append(out, k+"."+ak)
				}
			}
			continue
		}
		if !reflect.DeepEqual(l[k], wv) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// corrected is live with want's fields laid over it (nested objects merged key by key),
// for a PUT that keeps what others set. The secret is never sent back.
func corrected[T any](live, want T) T {
	l, w := toMap(live), toMap(want)
	for k, wv := range w {
		if wm, ok := wv.(map[string]any); ok {
			lm, _ := l[k].(map[string]any)
			if lm == nil {
				lm = map[string]any{}
			}
			for ak, av := range wm {
				lm[ak] = av
			}
			l[k] = lm
			continue
		}
		l[k] = wv
	}
	delete(l, "secret")
	var out T
	data, _ := json.Marshal(l)
	_ = json.Unmarshal(data, &out)
	return out
}

func toMap(v any) map[string]any {
	data, _ := json.Marshal(v)
	m := map[string]any{}
	_ = json.Unmarshal(data, &m)
	return m
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
