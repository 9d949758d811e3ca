package authbridge

import (
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func platform(mod func(*gitopsv1.Platform)) *gitopsv1.Platform {
	p := &gitopsv1.Platform{}
	if mod != nil {
		mod(p)
	}
	p.Default()
	return p
}

func boolp(b bool) *bool { return &b }

func TestResolve(t *testing.T) {
	agent := func(mod func(*agentv1.AgentRuntimeSpec)) *agentv1.AgentRuntime {
		rt := &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent}}
		if mod != nil {
			mod(&rt.Spec)
		}
		return rt
	}
	tests := []struct {
		name        string
		family      agentv1.Family // Kagenti when unset
		rt          *agentv1.AgentRuntime
		ns          map[string]any
		labels      map[string]string
		annotations map[string]string
		platform    *gitopsv1.Platform
		want        Settings
		wantErr     string
		wantNSErr   bool
	}{
		{
			name:     "defaults",
			rt:       agent(nil),
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:     "namespace defaults apply where the AgentRuntime is silent",
			rt:       agent(nil),
			ns:       map[string]any{"mode": "lite", "egressEnforcement": "none", "mtls": map[string]any{"mode": "strict"}},
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "lite", MTLS: "strict", Egress: "none", SPIRE: true},
		},
		{
			name: "the AgentRuntime wins over the namespace",
			rt: agent(func(s *agentv1.AgentRuntimeSpec) {
				s.AuthBridgeMode, s.MTLSMode, s.EgressEnforcement = "envoy-sidecar", "disabled", "enforce-redirect"
			}),
			ns:       map[string]any{"mode": "lite", "mtls": map[string]any{"mode": "strict"}},
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "envoy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			name:        "deprecated pod annotation is the last resort",
			rt:          agent(nil),
			annotations: map[string]string{agentv1.Kagenti.AnnotationAuthBridgeMode(): "envoy-sidecar"},
			platform:    platform(nil),
			want:        Settings{Injected: true, Mode: "envoy-sidecar", MTLS: "permissive", SPIRE: true},
		},
		{
			name:     "permissive without SPIRE runs without mTLS instead of hanging",
			rt:       agent(nil),
			platform: platform(func(p *gitopsv1.Platform) { p.Spire.Enabled = boolp(false) }),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "disabled", Egress: "enforce-redirect"},
		},
		{
			name:     "strict without SPIRE is an error",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.MTLSMode = "strict" }),
			platform: platform(func(p *gitopsv1.Platform) { p.Spire.Enabled = boolp(false) }),
			wantErr:  "spec.mtlsMode: strict needs SPIRE, which the platform turns off",
		},
		{
			name:     "pod opting out of SPIRE",
			rt:       agent(nil),
			labels:   map[string]string{agentv1.Kagenti.LabelSpiffeHelperInject(): "false"},
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "disabled", Egress: "enforce-redirect"},
		},
		{
			name:     "egress clamped to the platform's allowed list",
			rt:       agent(nil),
			platform: platform(func(p *gitopsv1.Platform) { p.Defaults.AllowedEgressEnforcement = []string{"none"} }),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", Egress: "none", SPIRE: true},
		},
		{
			name:     "tls bridge with lite",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode, s.TLSBridgeMode = "lite", "enabled" }),
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "lite", MTLS: "permissive", TLSBridge: true, Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:     "tls bridge with envoy is an error",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode, s.TLSBridgeMode = "envoy-sidecar", "enabled" }),
			platform: platform(nil),
			wantErr:  "spec.tlsBridgeMode: enabled needs authBridgeMode proxy-sidecar or lite, not envoy-sidecar",
		},
		{
			name:     "tools are not injected without injectTools",
			rt:       &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool}},
			platform: platform(nil),
			want:     Settings{Injected: false, Mode: "proxy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			name:     "tools are injected with injectTools",
			rt:       &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool}},
			platform: platform(func(p *gitopsv1.Platform) { p.FeatureGates.InjectTools = true }),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:     "waypoint injects nothing",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode = "waypoint" }),
			platform: platform(nil),
			want:     Settings{Injected: false, Mode: "waypoint", MTLS: "disabled", SPIRE: true},
		},
		{
			name:     "global kill switch",
			rt:       agent(nil),
			platform: platform(func(p *gitopsv1.Platform) { p.FeatureGates.GlobalEnabled = boolp(false) }),
			want:     Settings{Injected: false, Mode: "proxy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			name:     "pod opt-out label",
			rt:       agent(nil),
			labels:   map[string]string{agentv1.Kagenti.LabelInject(): "disabled"},
			platform: platform(nil),
			want:     Settings{Injected: false, Mode: "proxy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			name:     "a Rossoctl pod opts out with rossoctl.io/inject",
			family:   agentv1.Rossoctl,
			rt:       agent(nil),
			labels:   map[string]string{agentv1.Rossoctl.LabelInject(): "disabled"},
			platform: platform(nil),
			want:     Settings{Injected: false, Mode: "proxy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			// The other family's label is not the agent's: it does not opt out.
			name:     "a Rossoctl pod does not opt out with kagenti.io/inject",
			family:   agentv1.Rossoctl,
			rt:       agent(nil),
			labels:   map[string]string{agentv1.Kagenti.LabelInject(): "disabled"},
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:        "a Rossoctl pod's mode annotation",
			family:      agentv1.Rossoctl,
			rt:          agent(nil),
			annotations: map[string]string{agentv1.Rossoctl.AnnotationAuthBridgeMode(): "lite"},
			platform:    platform(nil),
			want:        Settings{Injected: true, Mode: "lite", MTLS: "permissive", Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:     "envoy opt-out label",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode = "envoy-sidecar" }),
			labels:   map[string]string{agentv1.Kagenti.LabelEnvoyProxyInject(): "false"},
			platform: platform(nil),
			want:     Settings{Injected: false, Mode: "envoy-sidecar", MTLS: "disabled", SPIRE: true},
		},
		{
			name:     "the envoy opt-out leaves the proxy-sidecar alone",
			rt:       agent(nil),
			labels:   map[string]string{agentv1.Kagenti.LabelEnvoyProxyInject(): "false"},
			platform: platform(nil),
			want:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", Egress: "enforce-redirect", SPIRE: true},
		},
		{
			name:     "strict on a tool that is not injected is an error",
			rt:       &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool, MTLSMode: "strict"}},
			platform: platform(nil),
			wantErr:  "spec.mtlsMode: strict needs the AuthBridge sidecar, which is not injected into tools (featureGates.injectTools: false)",
		},
		{
			name:     "strict on a waypoint agent is an error",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode, s.MTLSMode = "waypoint", "strict" }),
			platform: platform(nil),
			wantErr:  "strict needs the AuthBridge sidecar, which authBridgeMode waypoint does not inject",
		},
		{
			name:      "strict from the namespace on a tool is the namespace's error",
			rt:        &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool}},
			ns:        map[string]any{"mtls": map[string]any{"mode": "strict"}},
			platform:  platform(nil),
			wantErr:   "mtls.mode: strict needs the AuthBridge sidecar",
			wantNSErr: true,
		},
		{
			name:     "tls bridge on a tool that is not injected is an error",
			rt:       &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool, TLSBridgeMode: "enabled"}},
			platform: platform(nil),
			wantErr:  "spec.tlsBridgeMode: enabled needs the AuthBridge sidecar, which is not injected into tools",
		},
		{
			name:     "bad egress on a tool is still reported",
			rt:       &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeTool, EgressEnforcement: "iptables"}},
			platform: platform(nil),
			wantErr:  `spec.egressEnforcement: unknown value "iptables"`,
		},
		{
			name:     "envoy gate off",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode = "envoy-sidecar" }),
			platform: platform(func(p *gitopsv1.Platform) { p.FeatureGates.EnvoyProxy = boolp(false) }),
			wantErr:  "envoy-sidecar is switched off by the platform feature gate envoyProxy",
		},
		{
			name:     "unknown mode in the AgentRuntime",
			rt:       agent(func(s *agentv1.AgentRuntimeSpec) { s.AuthBridgeMode = "sidecar" }),
			platform: platform(nil),
			wantErr:  `spec.authBridgeMode: unknown value "sidecar"; valid values are proxy-sidecar, envoy-sidecar, lite, waypoint`,
		},
		{
			name:      "unknown mode in the namespace config",
			rt:        agent(nil),
			ns:        map[string]any{"mtls": map[string]any{"mode": "mutual"}},
			platform:  platform(nil),
			wantErr:   `mtls.mode: unknown value "mutual"`,
			wantNSErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.family
			if f == (agentv1.Family{}) {
				f = agentv1.Kagenti
			}
			got, err := Resolve(f, tt.rt, tt.ns, tt.labels, tt.annotations, tt.platform)
			if tt.wantErr != "" {
				se, ok := err.(*SettingError)
				if !ok || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if se.InNamespaceConfig != tt.wantNSErr {
					t.Fatalf("InNamespaceConfig = %v, want %v", se.InNamespaceConfig, tt.wantNSErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
