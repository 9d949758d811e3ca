package authbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// TLSBridgeCADir is where the TLS-bridge CA is mounted in every container.
const TLSBridgeCADir = "/etc/authbridge/tls-bridge-ca"

// CredentialWaitTimeout is how long the sidecar waits for its credentials Secret.
const CredentialWaitTimeout = "120s"

// ParseRuntimeConfig parses the config.yaml of an authbridge-runtime-config ConfigMap
// as the sidecar reads it (YAML 1.2's scalars: on_error: off is the string "off", not
// YAML 1.1's false), into the types JSON decoding gives.
func ParseRuntimeConfig(data string) (map[string]any, error) {
	doc := map[string]any{}
	if strings.TrimSpace(data) == "" {
		return doc, nil
	}
	var v any
	if err := yamlv3.Unmarshal([]byte(data), &v); err != nil {
		return nil, err
	}
	if v == nil {
		return doc, nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON-compatible document: %w", err)
	}
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("the document is not a mapping: %w", err)
	}
	return doc, nil
}

// NamespaceEnv is the data of a namespace's authbridge-config — where Keycloak is and
// what tokens look like: the keys the repository gives, the platform's for the rest. The
// issuer and audiences the repository leaves open follow the realm in effect, so setting
// only KEYCLOAK_REALM moves them too.
func NamespaceEnv(p *gitopsv1.Platform, repo map[string]string) map[string]string {
	env := make(map[string]string, len(repo)+9)
	for k, v := range repo {
		env[k] = v
	}
	set := func(key, value string) {
		if env[key] == "" {
			env[key] = value
		}
	}
	set("KEYCLOAK_URL", p.Keycloak.URL)
	set("KEYCLOAK_REALM", p.Keycloak.Realm)
	set("KEYCLOAK_NAMESPACE", p.Keycloak.Namespace)
	set("CLIENT_AUTH_TYPE", p.Keycloak.ClientAuthType)
	set("SPIFFE_IDP_ALIAS", p.Keycloak.SPIFFEIDPAlias)
	set("CREDENTIAL_WAIT_TIMEOUT", CredentialWaitTimeout)
	set("ISSUER", strings.TrimRight(p.Keycloak.PublicURL, "/")+"/realms/"+env["KEYCLOAK_REALM"])
	set("EXPECTED_AUDIENCE", env["ISSUER"])
	set("JWT_AUDIENCE", env["ISSUER"])
	return env
}

// RuntimeConfig is the namespace AuthBridge defaults (authbridge-runtime-config) for a
// namespace whose authbridge-config holds env: JWT validation inbound and token exchange
// outbound against its Keycloak. No mode is set, so the platform default applies.
func RuntimeConfig(env map[string]string, spire bool) map[string]any {
	doc := map[string]any{"pipeline": synthesizePipeline(env)}
	if spire {
		doc["spiffe"] = map[string]any{}
	}
	return doc
}

// synthesizePipeline builds the default plugin pipeline from authbridge-config values.
func synthesizePipeline(env map[string]string) map[string]any {
	set := func(m map[string]any, key, value string) {
		if value != "" {
			m[key] = value
		}
	}
	in := map[string]any{}
	set(in, "issuer", env["ISSUER"])
	set(in, "keycloak_url", env["KEYCLOAK_URL"])
	set(in, "keycloak_realm", env["KEYCLOAK_REALM"])

	out := map[string]any{}
	set(out, "keycloak_url", env["KEYCLOAK_URL"])
	set(out, "keycloak_realm", env["KEYCLOAK_REALM"])
	policy := env["DEFAULT_OUTBOUND_POLICY"]
	if policy == "" {
		policy = "passthrough"
	}
	out["default_policy"] = policy
	if auth := env["CLIENT_AUTH_TYPE"]; auth != "" {
		identity := map[string]any{"type": auth}
		if auth == "federated-jwt" {
			identity["type"] = "spiffe"
			set(identity, "jwt_audience", env["JWT_AUDIENCE"])
		}
		out["identity"] = identity
	}
	return map[string]any{
		"inbound":  map[string]any{"plugins": []any{map[string]any{"name": "jwt-validation", "config": in}}},
		"outbound": map[string]any{"plugins": []any{map[string]any{"name": "token-exchange", "config": out}}},
	}
}

// AgentInput is what an agent's configuration is made of.
type AgentInput struct {
	// Runtime is the namespace's authbridge-runtime-config document.
	Runtime map[string]any
	// Env is the namespace's authbridge-config data.
	Env map[string]string
	// Settings are the agent's resolved settings.
	Settings Settings
	// Ports is the agent's port plan.
	Ports PortPlan
	// AllowedAudiences are extra inbound JWT audiences from the AgentRuntime.
	AllowedAudiences []string
	// SPIFFESocket is the Workload API address inside the pod.
	SPIFFESocket string
	// Preset is the agent's resolved spec.pluginPreset (ResolvePreset); nil keeps the
	// namespace's pipeline.
	Preset []PresetChoice
	// OwnRoutes says the agent's sidecar reads its own routes (HasOwnRoutes), so its
	// token exchange must read the routes file.
	OwnRoutes bool
}

// AgentConfig renders the per-agent config.yaml (ConfigMap authbridge-config-<workload>):
// the namespace document with the agent's mode, listeners, mTLS, TLS bridge and SPIFFE
// settings, and a synthesized pipeline when the namespace has none, or the agent's
// preset pipeline. Keys come out sorted, so the same input always gives the same bytes.
// A problem of the agent's fields is a *SettingError naming the field.
func AgentConfig(in AgentInput) ([]byte, error) {
	data, _, err := AgentConfigSources(in)
	return data, err
}

// AgentConfigSources is AgentConfig with, for a preset pipeline, where each of its
// entries came from (by field, e.g. pipeline.inbound.plugins[1]); nil without a preset.
func AgentConfigSources(in AgentInput) ([]byte, map[string]EntrySource, error) {
	doc := runtime.DeepCopyJSON(in.Runtime)
	if doc == nil { // a namespace document that does not parse, refused where it is parsed
		doc = map[string]any{}
	}
	if _, ok := doc["pipeline"]; !ok {
		doc["pipeline"] = synthesizePipeline(in.Env)
	}
	var sources map[string]EntrySource
	if in.Preset != nil {
		// The preset composes the pipeline whatever the namespace's is, as upstream: the
		// namespace's (or the synthesized) pipeline only seeds the plugins' configs.
		base, _ := doc["pipeline"].(map[string]any)
		doc["pipeline"], sources = presetPipeline(base, in.Env, in.Preset)
	}
	if len(in.AllowedAudiences) > 0 {
		if err := setAllowedAudiences(doc, in.AllowedAudiences, in.Preset != nil); err != nil {
			return nil, nil, err
		}
	}
	if in.OwnRoutes {
		if err := readRoutesFile(doc); err != nil {
			return nil, nil, err
		}
	}
	s := in.Settings
	switch s.Mode {
	case agentv1.AuthBridgeEnvoySidecar:
		doc["mode"] = string(agentv1.AuthBridgeEnvoySidecar)
	default: // proxy-sidecar and lite share one configuration; lite differs by image
		doc["mode"] = string(agentv1.AuthBridgeProxySidecar)
		listener, _ := doc["listener"].(map[string]any)
		if listener == nil {
			listener = map[string]any{}
		}
		listener["reverse_proxy_addr"] = ":" + strconv.Itoa(int(in.Ports.AgentPort))
		listener["reverse_proxy_backend"] = "http://127.0.0.1:" + strconv.Itoa(int(in.Ports.BackendPort))
		listener["forward_proxy_addr"] = ":" + strconv.Itoa(int(in.Ports.ForwardPort))
		doc["listener"] = listener
	}
	delete(doc, "egressEnforcement")
	if s.Egress != "" {
		doc["egressEnforcement"] = string(s.Egress)
	}
	delete(doc, "mtls")
	if s.MTLS != "" && s.MTLS != agentv1.MTLSDisabled {
		doc["mtls"] = map[string]any{"mode": string(s.MTLS)}
	}
	delete(doc, "tls_bridge")
	if s.TLSBridge {
		doc["tls_bridge"] = map[string]any{"mode": string(agentv1.TLSBridgeEnabled), "ca_dir": TLSBridgeCADir}
	}
	delete(doc, "spiffe")
	if s.SPIRE {
		doc["spiffe"] = map[string]any{"socket": in.SPIFFESocket}
	}
	data, err := yaml.Marshal(doc)
	return data, sources, err
}

// stagePlugins are the entries of a pipeline stage that run (not on_error: off), as maps.
func stagePlugins(doc map[string]any, direction string) []map[string]any {
	pipeline, _ := doc["pipeline"].(map[string]any)
	stage, _ := pipeline[direction].(map[string]any)
	plugins, _ := stage["plugins"].([]any)
	var out []map[string]any
	for _, p := range plugins {
		if plugin, ok := p.(map[string]any); ok && plugin["on_error"] != string(agentv1.PluginPolicyOff) {
			out = append(out, plugin)
		}
	}
	return out
}

// readRoutesFile makes the agent's token exchange read the routes file, where the
// webhook mounts the agent's own routes (upstream writes routes.file too).
func readRoutesFile(doc map[string]any) error {
	found := false
	for _, plugin := range stagePlugins(doc, "outbound") {
		if plugin["name"] != sidecarconfig.PluginTokenExchange {
			continue
		}
		found = true
		config, _ := plugin["config"].(map[string]any)
		if config == nil {
			config = map[string]any{}
			plugin["config"] = config
		}
		routes, _ := config["routes"].(map[string]any)
		if routes == nil {
			routes = map[string]any{}
			config["routes"] = routes
		}
		if file, set := routes["file"]; set && file != sidecarconfig.DefaultRoutesFile {
			return &SettingError{Field: "spec.auth.outbound", Err: fmt.Errorf("the agent's routes are mounted at %s, and its token-exchange reads routes.file %v (from the namespace's %s): remove routes.file there", sidecarconfig.DefaultRoutesFile, file, agentv1.ConfigMapAuthBridgeRuntimeConfig)}
		}
		routes["file"] = sidecarconfig.DefaultRoutesFile
	}
	if !found {
		return &SettingError{Field: "spec.auth.outbound", Err: errors.New("no token-exchange runs in the agent's outbound pipeline, so nothing would read these routes: run token-exchange (spec.pluginPreset auth-only or full, or the namespace's pipeline), or remove them")}
	}
	return nil
}

func setAllowedAudiences(doc map[string]any, audiences []string, preset bool) error {
	for _, plugin := range stagePlugins(doc, "inbound") {
		if plugin["name"] != sidecarconfig.PluginJWTValidation {
			continue
		}
		config, _ := plugin["config"].(map[string]any)
		if config == nil {
			config = map[string]any{}
			plugin["config"] = config
		}
		list := make([]any, len(audiences))
		for i, a := range audiences {
			list[i] = a
		}
		config["allowed_audiences"] = list
		return nil
	}
	err := fmt.Errorf("extra audiences need a jwt-validation plugin in the inbound pipeline of the namespace's %s", agentv1.ConfigMapAuthBridgeRuntimeConfig)
	if preset {
		err = errors.New("extra audiences need jwt-validation, which the agent's spec.pluginPreset (or spec.plugins) leaves off")
	}
	return &SettingError{Field: "spec.identity.allowedAudiences", Err: err}
}

// HelperConf is spiffe-helper's configuration for a namespace whose authbridge-config
// holds env: where to fetch the SVID and where to write it, with a JWT-SVID for the
// namespace's Keycloak audience.
func HelperConf(p *gitopsv1.Platform, env map[string]string) string {
	socket := strings.TrimPrefix(p.Spire.SocketPath, "unix://")
	var b strings.Builder
	fmt.Fprintf(&b, "agent_address = %q\n", socket)
	b.WriteString("cmd = \"\"\ncmd_args = \"\"\n")
	b.WriteString("svid_file_name = \"/opt/svid.pem\"\nsvid_key_file_name = \"/opt/svid_key.pem\"\nsvid_bundle_file_name = \"/opt/svid_bundle.pem\"\n")
	b.WriteString("cert_file_mode = 0644\nkey_file_mode = 0640\n")
	fmt.Fprintf(&b, "jwt_svids = [{jwt_audience=%q, jwt_svid_file_name=\"/opt/jwt_svid.token\"}]\n", env["JWT_AUDIENCE"])
	b.WriteString("jwt_svid_file_mode = 0644\ninclude_federated_domains = true\n")
	return b.String()
}

// FeatureGatesYAML is the feature-gates.yaml of the kagenti-feature-gates ConfigMap.
func FeatureGatesYAML(p *gitopsv1.Platform) string {
	gates := map[string]bool{
		"globalEnabled":               p.InjectionEnabled(),
		"envoyProxy":                  p.EnvoyProxyEnabled(),
		"injectTools":                 p.FeatureGates.InjectTools,
		"clientRegistration":          p.ClientRegistrationEnabled(),
		"perWorkloadConfigResolution": false,
		"skillDiscovery":              false,
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(gates)) {
		fmt.Fprintf(&b, "%s: %t\n", k, gates[k])
	}
	return b.String()
}

// Image is the sidecar image of a mode.
func Image(mode agentv1.AuthBridgeMode, p *gitopsv1.Platform) string {
	switch mode {
	case agentv1.AuthBridgeEnvoySidecar:
		return p.Images.AuthBridgeEnvoy
	case agentv1.AuthBridgeLite:
		return p.Images.AuthBridgeLite
	case agentv1.AuthBridgeWaypoint:
		return ""
	}
	return p.Images.AuthBridge
}
