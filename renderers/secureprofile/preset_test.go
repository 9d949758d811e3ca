package secureprofile

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// withSpec adds lines to chatRuntime's spec.
func withSpec(lines ...string) string {
	return strings.Replace(chatRuntime, "  type: agent\n", "  type: agent\n  "+strings.Join(lines, "\n  ")+"\n", 1)
}

// pipelineOf is the per-agent config's plugins as name[:on_error], per direction.
func pipelineOf(t *testing.T, config string) (in, out []string) {
	t.Helper()
	var doc struct {
		Pipeline map[string]struct {
			Plugins []struct {
				Name    string `json:"name"`
				OnError string `json:"on_error"`
			} `json:"plugins"`
		} `json:"pipeline"`
	}
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	list := func(direction string) []string {
		var s []string
		for _, p := range doc.Pipeline[direction].Plugins {
			if p.OnError != "" {
				p.Name += ":" + p.OnError
			}
			s = append(s, p.Name)
		}
		return s
	}
	return list("inbound"), list("outbound")
}

const basePipelineWithOPA = `pipeline:
  inbound:
    plugins:
      - opa
      - name: jwt-validation
        config: {issuer: https://kc.example/realms/r}
  outbound:
    plugins:
      - name: token-exchange
        config: {token_url: https://kc.example/token, identity: {type: client-secret}}
      - opa
spiffe: {}`

func TestPresetRendered(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		in, out  []string
		routes   string // the agent's routes.yaml; "" for none
	}{
		{
			name: "auth-only over the generated namespace pipeline",
			docs: []string{ns, deploy, withSpec("pluginPreset: auth-only")},
			in:   []string{"a2a-parser:off", "jwt-validation"},
			out:  []string{"token-exchange", "token-broker:off", "inference-parser:off", "mcp-parser:off", "ibac:off"},
		},
		{
			name: "full over a namespace pipeline with opa, which stays",
			docs: []string{ns, deploy, withSpec("pluginPreset: full", "plugins: [ibac:off, mcp-parser:observe]"), runtimeConfig(basePipelineWithOPA)},
			in:   []string{"a2a-parser", "jwt-validation", "opa"},
			out:  []string{"token-exchange", "token-broker:off", "inference-parser", "mcp-parser:observe", "ibac:off", "opa"},
		},
		{
			name: "auth-only on the lite image: what the image lacks only as off entries",
			docs: []string{ns, deploy, withSpec("authBridgeMode: lite", "pluginPreset: auth-only")},
			in:   []string{"a2a-parser:off", "jwt-validation"},
			out:  []string{"token-exchange", "token-broker:off", "inference-parser:off", "mcp-parser:off", "ibac:off"},
		},
		{
			name: "an envoy-sidecar agent's ext_proc runs the preset too",
			docs: []string{ns, deploy, withSpec("authBridgeMode: envoy-sidecar", "pluginPreset: ibac-only", "plugins: [ibac:off]", "onError: observe")},
			in:   []string{"a2a-parser:observe", "jwt-validation:off"},
			out:  []string{"token-exchange:off", "token-broker:off", "inference-parser:observe", "mcp-parser:observe", "ibac:off"},
		},
		{
			name: "routes of its own, then the namespace's",
			docs: []string{ns, deploy,
				withSpec("auth:", "  outbound:", "  - {destination: {host: weather-tool.team}, audiences: [spiffe://localtest.me/ns/team/sa/weather-tool]}", `  - {destination: {hostRegex: '.*\.team-b\.svc'}, audiences: [team-b]}`),
				routesConfigMap("data:\n  routes.yaml: |\n    - host: 'otel-*'\n      action: passthrough\n")},
			in:  []string{"jwt-validation"},
			out: []string{"token-exchange"},
			routes: `- host: weather-tool.team
  target_audience: spiffe://localtest.me/ns/team/sa/weather-tool
- host: '**.team-b.svc'
  target_audience: team-b
- action: passthrough
  host: otel-*
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			if err != nil {
				t.Fatal(err)
			}
			r := result{res, t}
			config := str(t, r.must("ConfigMap", "team", "authbridge-config-chat"), "data", "config.yaml")
			in, out := pipelineOf(t, config)
			if strings.Join(in, " ") != strings.Join(tt.in, " ") || strings.Join(out, " ") != strings.Join(tt.out, " ") {
				t.Errorf("inbound  %v\noutbound %v\nwant\ninbound  %v\noutbound %v\n%s", in, out, tt.in, tt.out, config)
			}
			if tt.routes == "" {
				r.mustNot("ConfigMap", "team", "authbridge-routes-chat")
				return
			}
			routes := r.must("ConfigMap", "team", "authbridge-routes-chat")
			if got := str(t, routes, "data", "routes.yaml"); got != tt.routes {
				t.Errorf("routes.yaml:\n%s\nwant:\n%s", got, tt.routes)
			}
			if routes.GetLabels()[LabelAgentRuntime] != "chat" {
				t.Errorf("routes labels %v", routes.GetLabels())
			}
			if !strings.Contains(config, "file: /etc/authproxy/routes.yaml") {
				t.Errorf("token-exchange does not read the routes file:\n%s", config)
			}
		})
	}
}

// TestPresetRefused: what the sidecar could not run is refused at render, at the field of
// the AgentRuntime (or the namespace's ConfigMap) it comes from.
func TestPresetRefused(t *testing.T) {
	const at = "repo.yaml: AgentRuntime team/chat: "
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		want     []string
	}{
		{
			name: "ibac, never dropped",
			docs: []string{ns, deploy, withSpec("pluginPreset: ibac-only")},
			want: []string{at + `spec.pluginPreset: preset ibac-only runs ibac (enforce), and trustsync's AuthBridge data plane has no ibac plugin (it has a2a-parser, inference-parser, jwt-validation, mcp-parser, opa, token-exchange), so the sidecar would refuse to start: add "ibac:off" to spec.plugins to run the rest`},
		},
		{
			name: "token-broker, at its token",
			docs: []string{ns, deploy, withSpec("pluginPreset: auth-only", "plugins: [token-exchange:off, token-broker]")},
			want: []string{at + `spec.plugins[1]: "token-broker" runs token-broker (enforce), and trustsync's AuthBridge data plane has no token-broker plugin`},
		},
		{
			name: "refused for an agent that is not injected too",
			docs: []string{ns, deploy, strings.Replace(withSpec("pluginPreset: ibac-only"), "type: agent", "type: tool", 1)},
			want: []string{at + "spec.pluginPreset: preset ibac-only runs ibac"},
		},
		{
			name: "the lite image lacks the parsers full runs",
			docs: []string{ns, deploy, withSpec("authBridgeMode: lite", "pluginPreset: full", "plugins: [ibac:off]")},
			want: []string{
				at + `spec.pluginPreset: a2a-parser is not a plugin of the lite image (authBridgeMode lite), which has jwt-validation and token-exchange only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar) (pipeline.inbound.plugins[0].name of the config.yaml trustsync would generate in ConfigMap team/authbridge-config-chat; in spec.plugins, "a2a-parser:off" leaves a2a-parser out)`,
				at + "spec.pluginPreset: inference-parser is not a plugin of the lite image (authBridgeMode lite), which has jwt-validation and token-exchange only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar) (pipeline.outbound.plugins[2].name of",
				at + `spec.pluginPreset: mcp-parser is not a plugin of the lite image (authBridgeMode lite), which has jwt-validation and token-exchange only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar) (pipeline.outbound.plugins[3].name of the config.yaml trustsync would generate in ConfigMap team/authbridge-config-chat; in spec.plugins, "mcp-parser:off" leaves mcp-parser out)`,
			},
		},
		{
			name: "observe on an authentication gate, from the default policy",
			docs: []string{ns, deploy, withSpec("pluginPreset: auth-only", "onError: observe")},
			want: []string{
				at + `spec.onError: observe on jwt-validation would let what it denies through; leave it enforce, or off to remove it (pipeline.inbound.plugins[1].on_error of the config.yaml trustsync would generate in ConfigMap team/authbridge-config-chat; in spec.plugins, "jwt-validation:off" leaves jwt-validation out)`,
				at + "spec.onError: observe on token-exchange would let what it denies through; leave it enforce, or off to remove it (pipeline.outbound.plugins[0].on_error of",
			},
		},
		{
			name: "a plugin config of the namespace, at its own place there",
			docs: []string{ns, deploy, withSpec("pluginPreset: auth-only"), runtimeConfig(strings.Replace(basePipelineWithOPA, "{issuer: https://kc.example/realms/r}", "{issuer: https://kc.example/realms/r, audiences: [x]}", 1))},
			want: []string{"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[1].config.audiences: unknown field; known fields are allowed_audiences, audience, audience_file, audience_mode, bypass_paths, issuer, jwks_url, keycloak_realm, keycloak_url, placeholder_mode, placeholder_ttl (used by AgentRuntime chat, whose spec.pluginPreset composes pipeline.inbound.plugins[1])"},
		},
		{
			name: "the namespace's opa, kept, which the lite image lacks",
			docs: []string{ns, deploy, withSpec("authBridgeMode: lite", "pluginPreset: auth-only"), runtimeConfig(basePipelineWithOPA)},
			want: []string{
				"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[0].name: opa is not a plugin of the lite image (authBridgeMode lite), which has jwt-validation and token-exchange only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar) (used by AgentRuntime chat, whose spec.pluginPreset composes pipeline.inbound.plugins[2])",
				"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.outbound.plugins[1].name: opa is not a plugin of the lite image",
			},
		},
		{
			name: "a token plugin synthesized from the repository's authbridge-config",
			docs: []string{ns, deploy, withSpec("pluginPreset: auth-only"), runtimeConfig("pipeline: {}"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config, namespace: team}\ndata: {CLIENT_AUTH_TYPE: password}"},
			want: []string{`repo.yaml: ConfigMap team/authbridge-config: data: trustsync would generate ConfigMap team/authbridge-config-chat for AgentRuntime chat, whose config.yaml the AuthBridge sidecar refuses: pipeline.outbound.plugins[0].config.identity.type: unknown value "password"`},
		},
		{
			name: "extra audiences with jwt-validation off",
			docs: []string{ns, deploy, withSpec("pluginPreset: ibac-only", "plugins: [ibac:off]", "identity: {allowedAudiences: [ui]}")},
			want: []string{at + "spec.identity.allowedAudiences: extra audiences need jwt-validation, which the agent's spec.pluginPreset (or spec.plugins) leaves off"},
		},
		{
			name: "routes nothing reads",
			docs: []string{ns, deploy, withSpec("pluginPreset: ibac-only", "plugins: [ibac:off]", "auth: {outbound: [{destination: {host: tool}, audiences: [tool]}]}")},
			want: []string{at + "spec.auth.outbound: no token-exchange runs in the agent's outbound pipeline, so nothing would read these routes"},
		},
		{
			name: "a hostRegex without a glob, and two audiences",
			docs: []string{ns, deploy, withSpec(`auth: {outbound: [{destination: {hostRegex: '(?i)tool'}, audiences: [a]}, {destination: {host: tool}, audiences: [a, b]}]}`)},
			want: []string{
				at + `spec.auth.outbound[0].destination.hostRegex: ` + "`(?i)tool`" + `: it matches case-insensitively ((?i)), and host globs compare exactly: write the case the agent's requests use. The sidecar's routes match hosts by glob, not by regex`,
				at + "spec.auth.outbound[1].audiences: 2 audiences, and a route of the sidecar asks for one (target_audience)",
			},
		},
		{
			name: "the repository cannot bring an agent's routes",
			docs: []string{ns, deploy, withSpec("auth: {outbound: [{destination: {host: tool}, audiences: [tool]}]}"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-routes-chat, namespace: team}\ndata: {routes.yaml: ''}"},
			want: []string{"repo.yaml: ConfigMap team/authbridge-routes-chat: metadata.name: trustsync generates this object for AgentRuntime team/chat"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			checkErrors(t, res, err, tt.want)
		})
	}
}

// TestPresetHash: the new fields roll the pods when they change what the pods run, and
// agents without them keep their hashes (the golden files hold those).
func TestPresetHash(t *testing.T) {
	hash := func(docs ...string) string {
		res, err := expandBoth(t, objects(t, docs...), platformWith(nil))
		if err != nil {
			t.Fatal(err)
		}
		return res.Agents[0].ConfigHash
	}
	routes := "auth: {outbound: [{destination: {host: tool}, audiences: [tool]}]}"
	nsRoutes := routesConfigMap("data:\n  routes.yaml: |\n    - host: other\n      target_audience: other\n")
	base := hash(ns, deploy, chatRuntime)
	if hash(ns, deploy, chatRuntime, nsRoutes) != base {
		t.Error("the namespace's routes roll an agent that reads them as it always did")
	}
	withRoutes := hash(ns, deploy, withSpec(routes))
	for name, h := range map[string]string{
		"preset":            hash(ns, deploy, withSpec("pluginPreset: auth-only")),
		"override":          hash(ns, deploy, withSpec("pluginPreset: full", "plugins: [ibac:off]")),
		"routes":            withRoutes,
		"another audience":  hash(ns, deploy, withSpec(strings.Replace(routes, "[tool]}", "[other]}", 1))),
		"namespace's route": hash(ns, deploy, withSpec(routes), nsRoutes),
	} {
		if h == base || (name != "routes" && h == withRoutes) {
			t.Errorf("a %s change does not change the hash", name)
		}
	}
}
