package authbridge

import (
	"fmt"
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Settings are an agent's effective data-plane settings.
type Settings struct {
	// Injected is false when nothing is injected into the agent's pods: injection is off
	// globally, the pods opt out, the agent is a tool and tools are not injected, or the
	// mode is waypoint.
	Injected bool
	// Mode as chosen; lite and proxy-sidecar share the proxy-sidecar configuration.
	Mode agentv1.AuthBridgeMode
	// MTLS is the effective mTLS mode between sidecars: disabled where no sidecar is
	// injected or SPIRE is not part of the platform.
	MTLS agentv1.MTLSMode
	// TLSBridge decrypts the agent's outbound HTTPS in the forward proxy.
	TLSBridge bool
	// Egress is the egress enforcement after the platform's allowed list; empty where no
	// proxy-sidecar is injected.
	Egress agentv1.EgressEnforcement
	// SPIRE says the pods get SPIFFE identities from SPIRE.
	SPIRE bool
}

// SettingError is a setting that cannot be resolved. InNamespaceConfig says whether the
// namespace's authbridge-runtime-config is at fault rather than the AgentRuntime.
type SettingError struct {
	InNamespaceConfig bool
	Field             string
	Err               error
}

func (e *SettingError) Error() string { return e.Field + ": " + e.Err.Error() }

// Resolve works out an agent's settings. The order for each setting is the AgentRuntime
// field, then the namespace's authbridge-runtime-config, then the platform default.
// Unlike Kagenti, an unknown value is an error rather than a silent fallback, and an mTLS
// mode other than disabled never switches SPIRE on where the platform has none. The pod's
// labels and annotations are read in the agent's family (kagenti.io/inject,
// rossoctl.io/inject).
func Resolve(f agentv1.Family, rt *agentv1.AgentRuntime, nsRuntime map[string]any, podLabels, podAnnotations map[string]string, p *gitopsv1.Platform) (Settings, error) {
	s := Settings{SPIRE: p.SPIREEnabled() && podLabels[f.LabelSpiffeHelperInject()] != "false"}

	mode, err := resolveMode(f, rt, nsRuntime, podAnnotations, p)
	if err != nil {
		return s, err
	}
	s.Mode = mode
	if mode == agentv1.AuthBridgeEnvoySidecar && !p.EnvoyProxyEnabled() {
		return s, &SettingError{Field: "spec.authBridgeMode", Err: fmt.Errorf("envoy-sidecar is switched off by the platform feature gate envoyProxy")}
	}

	s.Injected = p.InjectionEnabled() &&
		(rt.Spec.Type == agentv1.AgentTypeAgent || p.FeatureGates.InjectTools) &&
		podLabels[f.LabelInject()] != "disabled" &&
		!(mode == agentv1.AuthBridgeEnvoySidecar && podLabels[f.LabelEnvoyProxyInject()] == "false") &&
		mode != agentv1.AuthBridgeWaypoint

	// The field a setting came from, for errors: the AgentRuntime's, or the namespace's.
	from := func(crValue, crField, nsKey string) *SettingError {
		if crValue != "" {
			return &SettingError{Field: crField}
		}
		return &SettingError{InNamespaceConfig: true, Field: nsKey}
	}

	mtls, err := resolveEnum(string(rt.Spec.MTLSMode), "spec.mtlsMode", nsRuntime, "mtls.mode", agentv1.MTLSModes, agentv1.MTLSPermissive)
	if err != nil {
		return s, err
	}
	s.MTLS = mtls
	if mtls != agentv1.MTLSDisabled {
		// strict is TLS or fail: refuse what cannot deliver it rather than run in
		// plaintext. permissive degrades to disabled instead of hanging on a socket
		// that is not there.
		reason := ""
		switch {
		case !s.Injected:
			reason = "the AuthBridge sidecar, which " + notInjectedReason(f, rt, podLabels, mode, p)
		case !s.SPIRE:
			reason = "SPIRE, which " + spireOffReason(f, p)
		}
		if reason != "" {
			if mtls == agentv1.MTLSStrict {
				e := from(string(rt.Spec.MTLSMode), "spec.mtlsMode", "mtls.mode")
				e.Err = fmt.Errorf("strict needs %s; use permissive or disabled", reason)
				return s, e
			}
			s.MTLS = agentv1.MTLSDisabled
		}
	}

	tls, err := resolveEnum(string(rt.Spec.TLSBridgeMode), "spec.tlsBridgeMode", nsRuntime, "tls_bridge.mode", agentv1.TLSBridgeModes, agentv1.TLSBridgeDisabled)
	if err != nil {
		return s, err
	}
	if tls == agentv1.TLSBridgeEnabled {
		e := from(string(rt.Spec.TLSBridgeMode), "spec.tlsBridgeMode", "tls_bridge.mode")
		switch {
		case mode != agentv1.AuthBridgeProxySidecar && mode != agentv1.AuthBridgeLite:
			e.Err = fmt.Errorf("enabled needs authBridgeMode proxy-sidecar or lite, not %s", mode)
			return s, e
		case !s.Injected:
			// Inspection was asked for and cannot happen: say so rather than ignore it.
			e.Err = fmt.Errorf("enabled needs the AuthBridge sidecar, which %s", notInjectedReason(f, rt, podLabels, mode, p))
			return s, e
		}
		s.TLSBridge = true
	}

	// Resolved for every agent, so a bad value is reported even where it does not apply.
	def := agentv1.EgressEnforcement(p.Defaults.EgressEnforcement)
	egress, err := resolveEnum(string(rt.Spec.EgressEnforcement), "spec.egressEnforcement", nsRuntime, "egressEnforcement", agentv1.EgressEnforcements, def)
	if err != nil {
		return s, err
	}
	if s.Injected && (mode == agentv1.AuthBridgeProxySidecar || mode == agentv1.AuthBridgeLite) {
		if allowed := p.Defaults.AllowedEgressEnforcement; len(allowed) > 0 && !slices.Contains(allowed, string(egress)) {
			egress = agentv1.EgressEnforcement(allowed[0])
		}
		s.Egress = egress
	}
	return s, nil
}

func notInjectedReason(f agentv1.Family, rt *agentv1.AgentRuntime, podLabels map[string]string, mode agentv1.AuthBridgeMode, p *gitopsv1.Platform) string {
	switch {
	case !p.InjectionEnabled():
		return "the platform does not inject (featureGates.globalEnabled: false)"
	case rt.Spec.Type == agentv1.AgentTypeTool && !p.FeatureGates.InjectTools:
		return "is not injected into tools (featureGates.injectTools: false)"
	case podLabels[f.LabelInject()] == "disabled":
		return "the pods opt out of (label " + f.LabelInject() + "=disabled)"
	case mode == agentv1.AuthBridgeEnvoySidecar && podLabels[f.LabelEnvoyProxyInject()] == "false":
		return "the pods opt out of (label " + f.LabelEnvoyProxyInject() + "=false)"
	}
	return fmt.Sprintf("authBridgeMode %s does not inject", mode)
}

func spireOffReason(f agentv1.Family, p *gitopsv1.Platform) string {
	if !p.SPIREEnabled() {
		return "the platform turns off (spire.enabled: false)"
	}
	return "the pod opts out of (label " + f.LabelSpiffeHelperInject() + "=false)"
}

func resolveMode(f agentv1.Family, rt *agentv1.AgentRuntime, nsRuntime map[string]any, podAnnotations map[string]string, p *gitopsv1.Platform) (agentv1.AuthBridgeMode, error) {
	if m := rt.Spec.AuthBridgeMode; m != "" {
		if !slices.Contains(agentv1.AuthBridgeModes, m) {
			return "", &SettingError{Field: "spec.authBridgeMode", Err: unknown(string(m), agentv1.AuthBridgeModes)}
		}
		return m, nil
	}
	if v, ok := lookup(nsRuntime, "mode"); ok {
		m := agentv1.AuthBridgeMode(v)
		if !slices.Contains(agentv1.AuthBridgeModes, m) {
			return "", &SettingError{InNamespaceConfig: true, Field: "mode", Err: unknown(v, agentv1.AuthBridgeModes)}
		}
		return m, nil
	}
	if v := podAnnotations[f.AnnotationAuthBridgeMode()]; v != "" {
		m := agentv1.AuthBridgeMode(v)
		if !slices.Contains(agentv1.AuthBridgeModes, m) {
			return "", &SettingError{Field: "pod annotation " + f.AnnotationAuthBridgeMode(), Err: unknown(v, agentv1.AuthBridgeModes)}
		}
		return m, nil
	}
	return agentv1.AuthBridgeMode(p.Defaults.AuthBridgeMode), nil
}

func resolveEnum[T ~string](crValue, crField string, nsRuntime map[string]any, nsKey string, valid []T, def T) (T, error) {
	if crValue != "" {
		if !slices.Contains(valid, T(crValue)) {
			return "", &SettingError{Field: crField, Err: unknown(crValue, valid)}
		}
		return T(crValue), nil
	}
	if v, ok := lookup(nsRuntime, nsKey); ok {
		if !slices.Contains(valid, T(v)) {
			return "", &SettingError{InNamespaceConfig: true, Field: nsKey, Err: unknown(v, valid)}
		}
		return T(v), nil
	}
	return def, nil
}

// lookup reads a dotted key of a config document as a non-empty string.
func lookup(doc map[string]any, key string) (string, bool) {
	var cur any = doc
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = m[part]
	}
	s, ok := cur.(string)
	return s, ok && s != ""
}

func unknown[T ~string](v string, valid []T) error {
	names := make([]string, len(valid))
	for i, x := range valid {
		names[i] = string(x)
	}
	return fmt.Errorf("unknown value %q; valid values are %s", v, strings.Join(names, ", "))
}
