package secureprofile

import (
	"strings"
	"testing"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func runtimeConfig(config string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-runtime-config, namespace: team}\ndata:\n  config.yaml: |\n    " + strings.ReplaceAll(strings.TrimSpace(config), "\n", "\n    ")
}

func routesConfigMap(data string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authproxy-routes, namespace: team}\n" + data
}

const goodPipeline = `pipeline:
  inbound:
    plugins:
      - name: jwt-validation
        config: {issuer: https://kc.example/realms/r}`

// TestSidecarConfigChecked: the expansion refuses what the sidecar would refuse at start,
// at the object the problem comes from.
func TestSidecarConfigChecked(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		platform func(*gitopsv1.Platform)
		want     []string
	}{
		{
			name: "a good namespace pipeline and routes",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig(goodPipeline + "\nlistener: {skip_hosts: [otel-collector]}"), routesConfigMap("data:\n  routes.yaml: |\n    - host: '*.team-b.svc'\n      target_audience: team-b\n")},
		},
		{
			name: "the namespace pipeline is the base of every agent's config",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig(`pipeline:
  inbound:
    plugins:
      - name: jwt-validation
        config: {issuer: https://kc.example/realms/r, audiences: [x]}
      - jwt-validator
listener: {skip_hosts: ["*"]}`)},
			want: []string{
				`repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: listener.skip_hosts[0]: "*" matches every host name of one label (every short Service name)`,
				"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[0].config.audiences: unknown field; known fields are allowed_audiences, audience, audience_file, audience_mode, bypass_paths, issuer, jwks_url, keycloak_realm, keycloak_url, placeholder_mode, placeholder_ttl (used by AgentRuntime chat)",
				`repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[1].name: unknown plugin "jwt-validator"`,
			},
		},
		{
			name: "a variable the sidecar would expand",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig(strings.Replace(goodPipeline, "https://kc.example/realms/r", "'${ISSUER}'", 1))},
			want: []string{"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[0].config.issuer: $ISSUER: the sidecar's environment has no such variable (it has SPIRE_ENABLED, MTLS_MODE)"},
		},
		{
			name: "a variable the webhook sets in the proxy's environment",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig(strings.Replace(goodPipeline, "https://kc.example/realms/r", "'https://kc.example/realms/r?spire=${SPIRE_ENABLED}'", 1))},
		},
		{
			name: "an Envoy sidecar's ext_proc expands the namespace's authbridge-config values",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "  type: agent\n", "  type: agent\n  authBridgeMode: envoy-sidecar\n", 1), runtimeConfig(strings.Replace(goodPipeline, "https://kc.example/realms/r", "'${ISSUER}'", 1))},
		},
		{
			name: "a lite agent under a pipeline with plugins the lite image lacks",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "  type: agent\n", "  type: agent\n  authBridgeMode: lite\n", 1), runtimeConfig(goodPipeline + "\n      - name: opa\n      - {name: a2a-parser, on_error: off}")},
			want: []string{"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: pipeline.inbound.plugins[1].name: opa is not a plugin of the lite image (authBridgeMode lite), which has jwt-validation and token-exchange only: set on_error: off on the entry, or run the full image (authBridgeMode proxy-sidecar) (used by AgentRuntime chat)"},
		},
		{
			name: "a lite agent under the token plugins",
			docs: []string{ns, deploy, strings.Replace(chatRuntime, "  type: agent\n", "  type: agent\n  authBridgeMode: lite\n", 1), runtimeConfig(goodPipeline)},
		},
		{
			name: "a namespace document that is not YAML is reported once, where it is",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig("pipeline: [")},
			want: []string{"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: yaml: line 1: did not find expected node content"},
		},
		{
			name: "listener keys of the namespace clash with the agent's",
			docs: []string{ns, deploy, chatRuntime, runtimeConfig(goodPipeline + "\nlistener: {session_api_addr: ':8080'}")},
			want: []string{"repo.yaml: ConfigMap team/authbridge-runtime-config: data.config.yaml: listener.session_api_addr: port 8080 is also listener.reverse_proxy_addr's (used by AgentRuntime chat)"},
		},
		{
			name: "a pipeline synthesized from the repository's authbridge-config",
			docs: []string{ns, deploy, chatRuntime, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: authbridge-config, namespace: team}\ndata: {CLIENT_AUTH_TYPE: password}"},
			want: []string{`repo.yaml: ConfigMap team/authbridge-config: data: trustsync would generate ConfigMap team/authbridge-config-chat for AgentRuntime chat, whose config.yaml the AuthBridge sidecar refuses: pipeline.outbound.plugins[0].config.identity.type: unknown value "password"`},
		},
		{
			name: "federated-jwt for an agent without SPIRE",
			docs: []string{ns, strings.Replace(deploy, "labels: {app: chat}}", "labels: {app: chat, kagenti.io/spiffe-helper-inject: \"false\"}}", 1), chatRuntime},
			platform: func(p *gitopsv1.Platform) {
				p.Keycloak.ClientAuthType = "federated-jwt"
				p.Spire.Enabled = f(true)
			},
			want: []string{"repo.yaml: AgentRuntime team/chat: trustsync would generate ConfigMap team/authbridge-config-chat for AgentRuntime chat, whose config.yaml the AuthBridge sidecar refuses: pipeline.outbound.plugins[0].config.identity.type: spiffe needs a JWT-SVID, and the configuration has no spiffe block"},
		},
		{
			name: "routes: a map wrapper, a passthrough key, other keys",
			docs: []string{ns, deploy, chatRuntime,
				routesConfigMap("data:\n  routes.yaml: |\n    routes:\n      - host: a\n"),
				strings.Replace(routesConfigMap("data:\n  routes.yaml: |\n    - host: b\n      passthrough: true\n  routes.yml: x\n"), "namespace: team", "namespace: other", 1),
			},
			want: []string{
				"repo.yaml: ConfigMap other/authproxy-routes: data.routes.yaml: [0].passthrough: the sidecar ignores passthrough in routes.yaml",
				"repo.yaml: ConfigMap other/authproxy-routes: data.routes.yml: the sidecar reads only routes.yaml of this ConfigMap",
				"repo.yaml: ConfigMap team/authproxy-routes: data.routes.yaml: routes: routes.yaml is a top-level list of routes, not a mapping with a routes key",
			},
		},
		{
			name: "routes without their key",
			docs: []string{routesConfigMap("data: {}")},
			want: []string{"repo.yaml: ConfigMap team/authproxy-routes: data.routes.yaml: required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, tt.docs...), platformWith(tt.platform))
			checkErrors(t, res, err, tt.want)
		})
	}
}
