package authbridge

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestAgentConfig(t *testing.T) {
	p := platform(nil)
	plan := PortPlan{AgentContainer: "agent", AgentPort: 8000, BackendPort: 8001, ForwardPort: 8081}

	t.Run("proxy-sidecar from the platform defaults", func(t *testing.T) {
		got, err := AgentConfig(AgentInput{
			Runtime:      RuntimeConfig(NamespaceEnv(p, nil), true),
			Settings:     Settings{Injected: true, Mode: "proxy-sidecar", MTLS: "permissive", SPIRE: true},
			Ports:        plan,
			SPIFFESocket: p.Spire.SocketPath,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `listener:
  forward_proxy_addr: :8081
  reverse_proxy_addr: :8000
  reverse_proxy_backend: http://127.0.0.1:8001
mode: proxy-sidecar
mtls:
  mode: permissive
pipeline:
  inbound:
    plugins:
    - config:
        issuer: http://keycloak-service.keycloak.svc:8080/realms/kagenti
        keycloak_realm: kagenti
        keycloak_url: http://keycloak-service.keycloak.svc:8080
      name: jwt-validation
  outbound:
    plugins:
    - config:
        default_policy: passthrough
        identity:
          type: client-secret
        keycloak_realm: kagenti
        keycloak_url: http://keycloak-service.keycloak.svc:8080
      name: token-exchange
spiffe:
  socket: unix:///spiffe-workload-api/spire-agent.sock
`
		if string(got) != want {
			t.Fatalf("got:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("namespace document without pipeline gets one from authbridge-config", func(t *testing.T) {
		got, err := AgentConfig(AgentInput{
			Runtime:          map[string]any{"session": map[string]any{"enabled": true}, "mtls": map[string]any{"mode": "strict"}},
			Env:              map[string]string{"KEYCLOAK_URL": "http://kc:8080", "KEYCLOAK_REALM": "r", "CLIENT_AUTH_TYPE": "federated-jwt", "JWT_AUDIENCE": "aud"},
			Settings:         Settings{Injected: true, Mode: "lite", MTLS: "disabled", TLSBridge: true},
			Ports:            plan,
			AllowedAudiences: []string{"extra"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(got, &doc); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"mode: proxy-sidecar", "type: spiffe", "jwt_audience: aud", "allowed_audiences:\n        - extra", "ca_dir: /etc/authbridge/tls-bridge-ca", "session:\n  enabled: true"} {
			if !strings.Contains(string(got), want) {
				t.Errorf("config lacks %q:\n%s", want, got)
			}
		}
		if _, ok := doc["mtls"]; ok {
			t.Error("mtls must be dropped when the effective mode is disabled")
		}
		if _, ok := doc["spiffe"]; ok {
			t.Error("spiffe must be dropped without SPIRE")
		}
	})

	t.Run("envoy has no listener overrides", func(t *testing.T) {
		got, err := AgentConfig(AgentInput{Runtime: RuntimeConfig(NamespaceEnv(p, nil), true), Settings: Settings{Mode: "envoy-sidecar"}, Ports: plan})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(got), "listener") || !strings.Contains(string(got), "mode: envoy-sidecar") {
			t.Fatalf("unexpected config:\n%s", got)
		}
	})

	t.Run("allowed audiences need a jwt-validation plugin", func(t *testing.T) {
		_, err := AgentConfig(AgentInput{
			Runtime:          map[string]any{"pipeline": map[string]any{"inbound": map[string]any{"plugins": []any{}}}},
			Settings:         Settings{Mode: "proxy-sidecar"},
			AllowedAudiences: []string{"x"},
		})
		if err == nil || !strings.Contains(err.Error(), "jwt-validation") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("the namespace document is not modified", func(t *testing.T) {
		ns := RuntimeConfig(NamespaceEnv(p, nil), true)
		before, _ := yaml.Marshal(ns)
		if _, err := AgentConfig(AgentInput{Runtime: ns, Settings: Settings{Mode: "proxy-sidecar", SPIRE: true}, Ports: plan, AllowedAudiences: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		after, _ := yaml.Marshal(ns)
		if string(before) != string(after) {
			t.Fatal("AgentConfig modified its input")
		}
	})
}

func TestNamespaceEnv(t *testing.T) {
	p := platform(nil)
	env := NamespaceEnv(p, map[string]string{"KEYCLOAK_REALM": "team", "CLIENT_AUTH_TYPE": "federated-jwt"})
	want := map[string]string{
		"KEYCLOAK_REALM":    "team",
		"CLIENT_AUTH_TYPE":  "federated-jwt",
		"KEYCLOAK_URL":      p.Keycloak.URL,
		"ISSUER":            p.Keycloak.PublicURL + "/realms/team",
		"JWT_AUDIENCE":      p.Keycloak.PublicURL + "/realms/team",
		"EXPECTED_AUDIENCE": p.Keycloak.PublicURL + "/realms/team",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if got := HelperConf(p, env); !strings.Contains(got, `jwt_audience="`+p.Keycloak.PublicURL+`/realms/team"`) {
		t.Errorf("helper.conf does not follow the namespace's realm:\n%s", got)
	}
}

func TestHelperConfAndGates(t *testing.T) {
	p := platform(nil)
	conf := HelperConf(p, NamespaceEnv(p, nil))
	for _, want := range []string{`agent_address = "/spiffe-workload-api/spire-agent.sock"`, `jwt_audience="http://keycloak-service.keycloak.svc:8080/realms/kagenti"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("helper.conf lacks %q:\n%s", want, conf)
		}
	}
	gates := FeatureGatesYAML(p)
	want := "clientRegistration: true\nenvoyProxy: true\nglobalEnabled: true\ninjectTools: false\nperWorkloadConfigResolution: false\nskillDiscovery: false\n"
	if gates != want {
		t.Fatalf("gates:\n%s\nwant:\n%s", gates, want)
	}
}

// TestParseRuntimeConfigReadsAsTheSidecar: the namespace's config.yaml is read with the
// sidecar's YAML scalars (on_error: off is a string, as upstream's yaml.v3 reads it, not
// YAML 1.1's false), into JSON's types.
func TestParseRuntimeConfigReadsAsTheSidecar(t *testing.T) {
	doc, err := ParseRuntimeConfig("pipeline:\n  inbound:\n    plugins:\n      - {name: opa, on_error: off}\n      - {name: x, on_error: yes}\nlistener: {port: 8080}\n")
	if err != nil {
		t.Fatal(err)
	}
	plugins := doc["pipeline"].(map[string]any)["inbound"].(map[string]any)["plugins"].([]any)
	for i, want := range []string{"off", "yes"} {
		if got := plugins[i].(map[string]any)["on_error"]; got != want {
			t.Errorf("plugins[%d].on_error = %#v, want the string %q", i, got, want)
		}
	}
	if port := doc["listener"].(map[string]any)["port"]; port != float64(8080) {
		t.Errorf("a number reads as %T %v, want JSON's float64", port, port)
	}
	for _, bad := range []string{"pipeline: [", "- a\n- b\n", "{1: x}\n"} {
		if _, err := ParseRuntimeConfig(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if doc, err := ParseRuntimeConfig("  \n"); err != nil || len(doc) != 0 {
		t.Errorf("blank: %v %v", doc, err)
	}
}
