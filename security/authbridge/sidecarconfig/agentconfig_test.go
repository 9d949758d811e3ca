package sidecarconfig_test

import (
	"fmt"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// TestAgentConfigsValidate: every per-agent config.yaml the renderer writes from the
// namespace defaults validates, across the modes, mTLS modes, TLS bridge, SPIRE and
// client authentication types, except the one the sidecar itself refuses.
func TestAgentConfigsValidate(t *testing.T) {
	plan := authbridge.PortPlan{AgentContainer: "agent", AgentPort: 8000, BackendPort: 8001, ForwardPort: 8081}
	for _, auth := range []string{"client-secret", "federated-jwt"} {
		p := gitopsv1.DefaultPlatform()
		p.Keycloak.ClientAuthType = auth
		env := authbridge.NamespaceEnv(p, nil)
		for _, mode := range []agentv1.AuthBridgeMode{agentv1.AuthBridgeProxySidecar, agentv1.AuthBridgeLite, agentv1.AuthBridgeEnvoySidecar} {
			for _, mtls := range agentv1.MTLSModes {
				for _, spire := range []bool{true, false} {
					for _, bridge := range []bool{false, true} {
						if (mtls != agentv1.MTLSDisabled && !spire) || (bridge && mode == agentv1.AuthBridgeEnvoySidecar) {
							continue // Resolve never gives these
						}
						name := fmt.Sprintf("%s/%s/mtls=%s/spire=%t/bridge=%t", auth, mode, mtls, spire, bridge)
						egress := agentv1.EgressNone
						if mode != agentv1.AuthBridgeEnvoySidecar && mtls == agentv1.MTLSStrict {
							egress = agentv1.EgressEnforceRedirect
						}
						data, err := authbridge.AgentConfig(authbridge.AgentInput{
							Runtime:          authbridge.RuntimeConfig(env, spire),
							Env:              env,
							Settings:         authbridge.Settings{Injected: true, Mode: mode, MTLS: mtls, TLSBridge: bridge, SPIRE: spire, Egress: egress},
							Ports:            plan,
							AllowedAudiences: []string{"extra"},
							SPIFFESocket:     p.Spire.SocketPath,
						})
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						cfg, err := sidecarconfig.Load(data, nil)
						if err != nil {
							t.Fatalf("%s: %v\n%s", name, err, data)
						}
						r, err := cfg.Validate()
						if auth == "federated-jwt" && !spire {
							// The sidecar cannot start: a JWT-SVID assertion without SPIRE.
							if err == nil || !strings.Contains(err.Error(), "identity.type: spiffe needs a JWT-SVID") {
								t.Errorf("%s: %v", name, err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("%s: %v\n%s", name, err, data)
						}
						wantMode := sidecarconfig.ModeProxySidecar
						if mode == agentv1.AuthBridgeEnvoySidecar {
							wantMode = sidecarconfig.ModeEnvoySidecar
						}
						if r.Mode != wantMode || len(r.Inbound.Plugins) != 1 || len(r.Outbound.Plugins) != 1 {
							t.Errorf("%s: resolved %+v", name, r)
						}
					}
				}
			}
		}
	}
}
