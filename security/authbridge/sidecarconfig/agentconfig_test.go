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

// TestPresetConfigsValidate: the config.yaml of every preset, in every sidecar data plane,
// is one the sidecar reads: the preset's other plugins are off entries, left out unread
// (ibac and token-broker too, which this data plane lacks), and the lite image refuses
// exactly the plugins it lacks that run.
func TestPresetConfigsValidate(t *testing.T) {
	plan := authbridge.PortPlan{AgentContainer: "agent", AgentPort: 8000, BackendPort: 8001, ForwardPort: 8081}
	p := gitopsv1.DefaultPlatform()
	env := authbridge.NamespaceEnv(p, nil)
	for _, tt := range []struct {
		spec agentv1.AgentRuntimeSpec
		runs []string // the plugins that run, inbound then outbound
		lite []string // the plugins the lite image refuses
	}{
		{spec: agentv1.AgentRuntimeSpec{PluginPreset: "auth-only"}, runs: []string{"jwt-validation", "token-exchange"}},
		{spec: agentv1.AgentRuntimeSpec{PluginPreset: "ibac-only", Plugins: []string{"ibac:off"}, OnError: "observe"},
			runs: []string{"a2a-parser:observe", "inference-parser:observe", "mcp-parser:observe"}, lite: []string{"a2a-parser", "inference-parser", "mcp-parser"}},
		{spec: agentv1.AgentRuntimeSpec{PluginPreset: "full", Plugins: []string{"ibac:off", "inference-parser:off"}},
			runs: []string{"a2a-parser", "jwt-validation", "token-exchange", "mcp-parser"}, lite: []string{"a2a-parser", "mcp-parser"}},
	} {
		choices, err := authbridge.ResolvePreset(&tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []agentv1.AuthBridgeMode{agentv1.AuthBridgeProxySidecar, agentv1.AuthBridgeLite, agentv1.AuthBridgeEnvoySidecar} {
			name := fmt.Sprintf("%s%v/%s", tt.spec.PluginPreset, tt.spec.Plugins, mode)
			data, err := authbridge.AgentConfig(authbridge.AgentInput{
				Runtime: authbridge.RuntimeConfig(env, true), Env: env, Ports: plan, SPIFFESocket: p.Spire.SocketPath,
				Settings: authbridge.Settings{Injected: true, Mode: mode, MTLS: agentv1.MTLSPermissive, SPIRE: true},
				Preset:   choices,
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cfg, err := sidecarconfig.Load(data, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r, err := cfg.Validate()
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, data)
			}
			var runs []string
			for _, s := range []sidecarconfig.ResolvedStage{r.Inbound, r.Outbound} {
				for _, pl := range s.Plugins {
					if pl.OnError == sidecarconfig.OnErrorObserve {
						pl.Name += ":observe"
					}
					runs = append(runs, pl.Name)
				}
			}
			if strings.Join(runs, " ") != strings.Join(tt.runs, " ") || len(r.Inbound.Off)+len(r.Outbound.Off)+len(runs) != 7 {
				t.Errorf("%s: runs %v (off %v %v), want %v", name, runs, r.Inbound.Off, r.Outbound.Off, tt.runs)
			}
			if mode != agentv1.AuthBridgeLite {
				continue
			}
			var refused []string
			for _, e := range manifestErrors(r.CheckLite()) {
				refused = append(refused, strings.SplitN(e.Error(), " ", 3)[1])
			}
			if strings.Join(refused, " ") != strings.Join(tt.lite, " ") {
				t.Errorf("%s: the lite image refuses %v, want %v", name, refused, tt.lite)
			}
		}
	}
	// A running ibac is no plugin of this data plane: the sidecar refuses it too.
	cfg, err := sidecarconfig.Load([]byte("mode: proxy-sidecar\nlistener: {reverse_proxy_backend: 'http://127.0.0.1:8001'}\npipeline:\n  outbound:\n    plugins: [{name: ibac, on_error: observe}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `pipeline.outbound.plugins[0].name: unknown plugin "ibac"`) {
		t.Errorf("a running ibac: %v", err)
	}
}

func manifestErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
