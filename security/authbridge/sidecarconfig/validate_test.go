package sidecarconfig

import (
	"strings"
	"testing"
	"time"
)

// valid is a complete proxy-sidecar configuration like the ones trustsync renders.
const valid = `mode: proxy-sidecar
egressEnforcement: enforce-redirect
listener:
  reverse_proxy_addr: ":8000"
  reverse_proxy_backend: http://127.0.0.1:8001
  forward_proxy_addr: ":8081"
mtls: {mode: strict}
spiffe: {socket: unix:///spiffe-workload-api/spire-agent.sock}
pipeline:
  inbound:
    plugins:
      - a2a-parser
      - name: jwt-validation
        config: {issuer: https://kc.example/realms/a, keycloak_url: http://kc:8080, keycloak_realm: a}
      - name: opa
  outbound:
    plugins:
      - name: token-exchange
        config: {token_url: http://kc:8080/realms/a/protocol/openid-connect/token, identity: {type: client-secret}}
      - name: opa
`

func check(doc string) (*Resolved, error) {
	c, err := Load([]byte(doc), nil)
	if err != nil {
		return nil, err
	}
	return c.Validate()
}

// with replaces old by new in the valid configuration.
func with(old, new string) string {
	if !strings.Contains(valid, old) {
		panic("not in the valid config: " + old)
	}
	return strings.Replace(valid, old, new, 1)
}

func TestValidResolves(t *testing.T) {
	r, err := check(valid)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != ModeProxySidecar || !r.ThisDataPlane || r.RunBy != RunByProxy {
		t.Errorf("mode %q run by %q", r.Mode, r.RunBy)
	}
	l := r.Listeners
	if l.ReverseProxy != ":8000" || l.ForwardProxy != ":8081" || l.TransparentProxy != ":8082" || l.SessionAPI != ":9094" || l.Stats != "127.0.0.1:9093" || l.Health != ":9091" {
		t.Errorf("listeners %+v", l)
	}
	if len(r.Inbound.Plugins) != 3 || len(r.Outbound.Plugins) != 2 {
		t.Fatalf("pipelines %+v %+v", r.Inbound, r.Outbound)
	}
	jwt := r.Inbound.Plugins[1].Config.(*JWTValidation)
	if jwt.JWKSURL != "http://kc:8080/realms/a/protocol/openid-connect/certs" || jwt.AudienceFile != DefaultClientIDFile || len(jwt.BypassPaths) != 5 || time.Duration(jwt.PlaceholderTTL) != time.Hour {
		t.Errorf("jwt-validation defaults %+v", jwt)
	}
	te := r.Outbound.Plugins[0].Config.(*TokenExchange)
	if te.DefaultPolicy != "passthrough" || te.NoTokenPolicy != "deny" || te.Identity.ClientSecretFile != DefaultClientSecretFile || te.Routes.File != DefaultRoutesFile {
		t.Errorf("token-exchange defaults %+v", te)
	}
	opa := r.Inbound.Plugins[2].Config.(*OPA)
	if opa.BundleURL != DefaultBundleURL || opa.PollingMinDelay != 10 || opa.PollingMaxDelay != 120 || opa.AgentIDFile != DefaultClientIDFile {
		t.Errorf("opa defaults %+v", opa)
	}
	if r.Inbound.Plugins[0].OnError != OnErrorEnforce || r.Session.MaxEvents != 500 || time.Duration(r.Session.TTL) != 30*time.Minute || r.MTLS != MTLSStrict {
		t.Errorf("resolved %+v", r)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %v", r.Warnings)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, r *Resolved)
	}{
		{
			name: "off entries are left out before the name is looked up",
			doc:  with("      - a2a-parser\n", "      - a2a-parser\n      - {name: ibac, on_error: off, config: {anything: [1]}}\n"),
			check: func(t *testing.T, r *Resolved) {
				if len(r.Inbound.Off) != 1 || r.Inbound.Off[0] != (OffEntry{Index: 1, Name: "ibac"}) || len(r.Inbound.Plugins) != 3 {
					t.Errorf("inbound %+v", r.Inbound)
				}
			},
		},
		{
			name: "observe is kept, with a warning",
			doc:  with("      - name: opa\n  outbound", "      - {name: opa, on_error: observe}\n  outbound"),
			check: func(t *testing.T, r *Resolved) {
				if r.Inbound.Plugins[2].OnError != OnErrorObserve || len(r.Warnings) != 1 {
					t.Errorf("%+v %v", r.Inbound.Plugins[2], r.Warnings)
				}
			},
		},
		{
			name: "envoy-sidecar is valid for the Envoy image",
			doc:  "mode: envoy-sidecar\nspiffe: {}\npipeline: {inbound: {plugins: [{name: jwt-validation, config: {issuer: https://i}}]}}\n",
			check: func(t *testing.T, r *Resolved) {
				if r.ThisDataPlane || r.RunBy != RunByEnvoy || r.Listeners.ExtProc != ":9090" || r.Listeners.ReverseProxy != "" || r.Listeners.Health != "" {
					t.Errorf("%+v", r)
				}
				if r.SPIFFE.Socket != DefaultSPIFFESocket || !r.SPIFFE.MirrorFiles || r.SPIFFE.MirrorDir != "/opt" {
					t.Errorf("spiffe %+v", r.SPIFFE)
				}
			},
		},
		{
			name: "envoy-sidecar ignores the proxy's listener keys of shared namespace defaults",
			doc:  "mode: envoy-sidecar\nlistener: {roles: [reverse], forward_proxy_addr: ':8081'}\n",
			check: func(t *testing.T, r *Resolved) {
				if r.Listeners.ForwardProxy != "" || len(r.Listeners.Roles) != 0 || len(r.Warnings) != 4 {
					t.Errorf("%+v %v", r.Listeners, r.Warnings)
				}
			},
		},
		{
			name: "waypoint",
			doc:  "mode: waypoint\n",
			check: func(t *testing.T, r *Resolved) {
				if r.Listeners.ExtAuthz != ":9090" || r.Listeners.ForwardProxy != ":8080" || len(r.Warnings) != 2 {
					t.Errorf("%+v", r)
				}
			},
		},
		{
			name: "the TLS bridge keeps the session API on loopback",
			doc:  with("mtls: {mode: strict}", "tls_bridge: {mode: enabled, ca_dir: /etc/authbridge/tls-bridge-ca}"),
			check: func(t *testing.T, r *Resolved) {
				if r.Listeners.SessionAPI != "127.0.0.1:9094" || r.TLSBridge == nil || len(r.TLSBridge.Ports) != 2 || r.MTLS != "" {
					t.Errorf("%+v %+v", r.Listeners, r.TLSBridge)
				}
			},
		},
		{
			name: "session off: no session API",
			doc:  valid + "session: {enabled: false}\n",
			check: func(t *testing.T, r *Resolved) {
				if r.Session.Enabled || r.Listeners.SessionAPI != "" {
					t.Errorf("%+v", r.Session)
				}
			},
		},
		{
			name: "forward role only",
			doc:  "mode: proxy-sidecar\nlistener: {roles: [forward], skip_hosts: [otel-collector*, '*.svc.cluster.local']}\n",
			check: func(t *testing.T, r *Resolved) {
				l := r.Listeners
				if l.ReverseProxy != "" || l.ForwardProxy != ":8081" || l.TransparentProxy != ":8082" || len(l.SkipHosts) != 2 {
					t.Errorf("%+v", l)
				}
			},
		},
		{
			name: "unknown top-level keys, undefined variables and empty stages are warnings",
			doc:  "mode: proxy-sidecar\nlistener: {reverse_proxy_backend: 'http://127.0.0.1:8001'}\npricing: {}\npipeline: {inbound: {plugins: [{name: jwt-validation, config: {issuer: '${ISSUER}'}}]}}\n",
			check: func(t *testing.T, r *Resolved) {
				var got []string
				for _, w := range r.Warnings {
					got = append(got, w.String())
				}
				want := []string{
					"pipeline.outbound.plugins: no plugin runs: the agent's requests leave without token exchange or policy",
					"pricing: not a key of the sidecar's configuration; it ignores it",
					"pipeline.inbound.plugins[0].config.issuer: ${ISSUER} is not set, so the sidecar reads the literal text ${ISSUER}",
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("warnings:\n%s", strings.Join(got, "\n"))
				}
			},
		},
		{
			name: "inline routes",
			doc: with("identity: {type: client-secret}}", `identity: {type: client-secret},
                  routes: {rules: [{host: "*.svc", target_audience: x}, {host: github.com, passthrough: true}]}}`),
			check: func(t *testing.T, r *Resolved) {
				rules := r.Outbound.Plugins[0].Config.(*TokenExchange).Routes.Rules
				if rules[0].Action != ActionExchange || rules[1].Action != ActionPassthrough {
					t.Errorf("%+v", rules)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := check(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		// Upstream's rules.
		{"no mode", strings.Replace(valid, "mode: proxy-sidecar\n", "", 1), []string{"mode: required"}},
		{"unknown mode", with("mode: proxy-sidecar", "mode: lite"), []string{`mode: unknown value "lite"; valid values are proxy-sidecar, envoy-sidecar, waypoint`}},
		{"reverse role without backend", with("  reverse_proxy_backend: http://127.0.0.1:8001\n", ""), []string{"listener.reverse_proxy_backend: required with the reverse role"}},
		{"proxy-sidecar with ext_proc", with("listener:\n", "listener:\n  ext_proc_addr: :9090\n"), []string{"listener.ext_proc_addr: proxy-sidecar does not read it"}},
		{"proxy-sidecar with ext_authz", with("listener:\n", "listener:\n  ext_authz_addr: :9090\n"), []string{"listener.ext_authz_addr: proxy-sidecar does not read it"}},
		{"envoy-sidecar with a reverse proxy", "mode: envoy-sidecar\nlistener: {reverse_proxy_addr: ':8080'}\n", []string{"listener.reverse_proxy_addr: envoy-sidecar does not read it"}},
		{"unknown role", with("listener:\n", "listener:\n  roles: [reverse, inbound]\n"), []string{`listener.roles[1]: unknown value "inbound"`}},
		{"TLS bridge without the forward role", "mode: proxy-sidecar\nlistener: {roles: [reverse], reverse_proxy_backend: 'http://127.0.0.1:1'}\ntls_bridge: {mode: enabled, ca_dir: /ca}\n", []string{"listener.roles: has no forward role, which the TLS bridge"}},
		{"TLS bridge without its CA", with("mtls: {mode: strict}", "tls_bridge: {mode: enabled}"), []string{"tls_bridge.ca_dir: required with mode enabled"}},
		{"TLS bridge port", with("mtls: {mode: strict}", "tls_bridge: {mode: enabled, ca_dir: /ca, ports: [443, 70000]}"), []string{"tls_bridge.ports[1]: 70000 is not a port"}},
		{"unknown mtls mode", with("mode: strict", "mode: on"), []string{`mtls.mode: unknown value "on"`}},
		{"legacy mtls files", with("mtls: {mode: strict}", "mtls: {mode: strict, cert_file: /opt/svid.pem}"), []string{"mtls.cert_file: unknown field; known fields are allowed_peers, mode"}},
		{"spiffe socket", with("socket: unix:///spiffe-workload-api/spire-agent.sock", "socket: /run/spire.sock"), []string{`spiffe.socket: "/run/spire.sock": want unix:///`}},
		{"skip_hosts match-all", with("listener:\n", "listener:\n  skip_hosts: ['***', '{**}', '?*', ' ', 'otel:4318']\n"), []string{
			`listener.skip_hosts[0]: "***" matches every host name of one label`,
			`listener.skip_hosts[1]: "{**}" matches every host name of one label`,
			`listener.skip_hosts[2]: "?*" matches every host name of one label`,
			"listener.skip_hosts[3]: empty pattern",
			`listener.skip_hosts[4]: "otel:4318" has a port`,
		}},
		{"skip_hosts syntax", with("listener:\n", "listener:\n  skip_hosts: ['{a,b']\n"), []string{`listener.skip_hosts[0]: "{a,b" is not a valid pattern`}},
		{"bad on_error", with("      - name: opa\n  outbound", "      - {name: opa, on_error: warn}\n  outbound"), []string{`pipeline.inbound.plugins[2].on_error: unknown value "warn"; valid values are enforce, observe, off`}},
		{"unknown plugin", with("      - a2a-parser\n", "      - a2a-parsr\n"), []string{`pipeline.inbound.plugins[0].name: unknown plugin "a2a-parsr"; this data plane has a2a-parser, inference-parser, jwt-validation, mcp-parser, opa, token-exchange`}},
		{"config for a plugin without one", with("      - a2a-parser\n", "      - {name: a2a-parser, config: {}}\n"), []string{"pipeline.inbound.plugins[0].config: a2a-parser takes no config"}},
		{"entry without name", with("      - a2a-parser\n", "      - {id: x}\n"), []string{"pipeline.inbound.plugins[0].name: required"}},
		{"unknown entry key", with("      - a2a-parser\n", "      - {name: a2a-parser, enabled: true}\n"), []string{"pipeline.inbound.plugins[0].enabled: unknown field; known fields are config, id, name, on_error"}},
		{"issuer required", with("{issuer: https://kc.example/realms/a, ", "{"), []string{"pipeline.inbound.plugins[1].config.issuer: required"}},
		{"strict plugin config", with("keycloak_realm: a}", "keycloak_realm: a, audiences: [x]}"), []string{"pipeline.inbound.plugins[1].config.audiences: unknown field; known fields are allowed_audiences, audience,"}},
		{"plugin config keys are case-sensitive", with("keycloak_realm: a}", "keycloak_realm: a, Issuer: x}"), []string{"pipeline.inbound.plugins[1].config.Issuer: unknown field"}},
		{"audience_mode", with("keycloak_realm: a}", "keycloak_realm: a, audience_mode: dynamic}"), []string{`config.audience_mode: unknown value "dynamic"; valid values are static, per-host`}},
		{"bypass path too broad", with("keycloak_realm: a}", "keycloak_realm: a, bypass_paths: ['/*', healthz, '/[']}"), []string{
			`config.bypass_paths[0]: "/*" is too broad`, `config.bypass_paths[1]: "healthz" does not start with /`, `config.bypass_paths[2]: "/[" is not a valid path pattern`,
		}},
		{"placeholder_ttl", with("keycloak_realm: a}", "keycloak_realm: a, placeholder_ttl: soon}"), []string{`config.placeholder_ttl: "soon" is not a duration`}},
		{"token_url required", with("{token_url: http://kc:8080/realms/a/protocol/openid-connect/token, ", "{"), []string{"pipeline.outbound.plugins[0].config.token_url: required"}},
		{"identity type", with("type: client-secret", "type: password"), []string{`config.identity.type: unknown value "password"; valid values are client-secret, spiffe`}},
		{"spiffe identity needs jwt_audience", with("type: client-secret", "type: spiffe"), []string{"config.identity.jwt_audience: required for type spiffe"}},
		{"inline client secret", with("type: client-secret", "type: client-secret, client_secret: hunter2"), []string{"config.identity.client_secret: a secret written in config.yaml is readable"}},
		{"policies", with("identity:", "default_policy: allow, no_token_policy: maybe, identity:"), []string{
			`config.default_policy: unknown value "allow"; valid values are passthrough, exchange`, `config.no_token_policy: unknown value "maybe"`,
		}},
		{"provider", with("identity:", "provider: okta, identity:"), []string{`config.provider: unknown value "okta"`}},
		{"route action", with("identity: {type: client-secret}}", "identity: {type: client-secret}, routes: {rules: [{host: a, action: drop}, {host: b, action: exchange, passthrough: true}]}}"), []string{
			`config.routes.rules[0].action: unknown value "drop"`, "config.routes.rules[1].passthrough: contradicts action: exchange",
		}},
		{"observe on an authentication gate", with("      - name: jwt-validation\n", "      - name: jwt-validation\n        on_error: observe\n"), []string{"pipeline.inbound.plugins[1].on_error: observe on jwt-validation would let what it denies through"}},
		{"opa over plain http", with("      - name: opa\n  outbound", "      - {name: opa, config: {bundle_url: 'http://bundles:8080'}}\n  outbound"), []string{`config.bundle_url: "http://bundles:8080": want an https URL`}},
		{"upstream bundle-service without its URL", with("      - name: opa\n  outbound", "      - {name: opa, config: {upstream_bundle_service: true}}\n  outbound"), []string{"config.bundle_url: upstream_bundle_service needs the service's URL"}},
		{"upstream bundle-service with a server ID", with("      - name: opa\n  outbound", "      - {name: opa, config: {upstream_bundle_service: true, bundle_url: 'http://b:8080', bundle_server_id: 'spiffe://td/ns/a/sa/b'}}\n  outbound"), []string{"config.bundle_server_id: upstream's bundle-service presents no SPIFFE ID"}},
		{"upstream bundle-service not over HTTP", with("      - name: opa\n  outbound", "      - {name: opa, config: {upstream_bundle_service: true, bundle_url: 'ftp://b'}}\n  outbound"), []string{`config.bundle_url: "ftp://b": want an http or https URL of upstream's bundle-service`}},
		{"opa entries disagree", with("      - name: opa\n  outbound", "      - {name: opa, config: {polling_min_delay: 5}}\n  outbound"), []string{`pipeline.outbound.plugins[1].config.polling_min_delay: "10" differs from pipeline.inbound.plugins[2].config's "5"`}},
		{"opa without SVID", strings.Replace(with("mtls: {mode: strict}\n", ""), "spiffe: {socket: unix:///spiffe-workload-api/spire-agent.sock}\n", "", 1), []string{"pipeline.inbound.plugins[2].config: opa fetches its bundle over mutual TLS"}},
		{"opa include and delays", with("      - name: opa\n  outbound", "      - {name: opa, config: {include: [mcp.params.name, mcp.body], polling_max_delay: -1}}\n  outbound"), []string{
			`config.include[1]: unknown value "mcp.body"`, "config.polling_max_delay: -1: must not be negative",
		}},
		{"mtls without SVID", strings.Replace(valid, "spiffe: {socket: unix:///spiffe-workload-api/spire-agent.sock}\n", "", 1), []string{"mtls: mutual TLS needs the pod's X.509-SVID"}},
		{"two listeners on one port", with("  forward_proxy_addr: \":8081\"\n", "  forward_proxy_addr: \":8081\"\n  session_api_addr: \":8000\"\n"), []string{"listener.session_api_addr: port 8000 is also listener.reverse_proxy_addr's"}},
		{"backend loops", with("http://127.0.0.1:8001", "http://127.0.0.1:8081"), []string{"listener.reverse_proxy_backend: port 8081 is the sidecar's own (listener.forward_proxy_addr)"}},
		{"bad address", with("\":8081\"", "\"8081\""), []string{`listener.forward_proxy_addr: "8081": want [host]:port`}},
		{"bad backend", with("http://127.0.0.1:8001", "127.0.0.1:8001"), []string{`listener.reverse_proxy_backend: "127.0.0.1:8001": want http://host:port`}},
		{"egress", with("egressEnforcement: enforce-redirect", "egressEnforcement: strict"), []string{`egressEnforcement: unknown value "strict"`}},
		{"session", valid + "session: {ttl: 0s, max_events: -1}\n", []string{`session.ttl: "0s": must be positive`}},
		{"session counts", valid + "session: {max_events: -1}\n", []string{"session.max_events: -1: must not be negative"}},
		// Types.
		{"string for a list", with("listener:\n", "listener:\n  roles: forward\n"), []string{`listener.roles: want a list, not the string "forward"`}},
		{"number for a string", with("mode: proxy-sidecar", "mode: 1"), []string{"mode: want a string, not the number 1"}},
		{"yes for a boolean", valid + "session: {enabled: yes}\n", []string{`session.enabled: want true or false, not the string "yes"`}},
		{"list for a mapping", valid + "stats: [1]\n", []string{"stats: want a mapping, not a list"}},
		{"plugin entry of the wrong type", with("      - a2a-parser\n", "      - 7\n"), []string{"pipeline.inbound.plugins[0]: want a plugin name or {name, id, on_error, config}, not the number 7"}},
		{"port as a string", with("mtls: {mode: strict}", "tls_bridge: {mode: enabled, ca_dir: /ca, ports: ['443']}"), []string{`tls_bridge.ports[0]: want a whole number, not the string "443"`}},
		{"duplicate key", valid + "mode: envoy-sidecar\n", []string{"mode: given twice"}},
		{"duplicate plugin config key", with("keycloak_realm: a}", "keycloak_realm: a, issuer: https://other}"), []string{"config.issuer: given twice"}},
		{"merge key", "base: &b {mode: proxy-sidecar}\n<<: *b\n", []string{`"<<": YAML merge keys are not supported`}},
		{"not a mapping", "- mode: proxy-sidecar\n", []string{"want a mapping, not a list"}},
		{"two documents", valid + "---\nmode: waypoint\n", []string{"more than one YAML document"}},
		{"not YAML", "mode: [\n", []string{"not YAML"}},
		{"dropped characters", valid + "stats:\n  address: ${PORT\n", []string{"${ without a closing }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := check(tt.doc)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if r != nil {
				t.Error("a Resolved with the error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestUpstreamBundleService: upstream's bundle-service is fetched over plain HTTP only
// when the configuration says so.
func TestUpstreamBundleService(t *testing.T) {
	const opa = "{name: opa, config: {upstream_bundle_service: true, bundle_url: 'http://bundle-service.kagenti-system.svc.cluster.local:8080'}}"
	doc := strings.ReplaceAll(valid, "      - name: opa\n", "      - "+opa+"\n")
	r, err := check(doc)
	if err != nil {
		t.Fatal(err)
	}
	o := r.Inbound.Plugins[2].Config.(*OPA)
	if !o.UpstreamBundleService || o.BundleURL != "http://bundle-service.kagenti-system.svc.cluster.local:8080" {
		t.Errorf("opa %+v", o)
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	s := Secret("hunter2")
	b, _ := s.MarshalJSON()
	if strings.Contains(string(b), "hunter2") || strings.Contains(s.String(), "hunter2") || s.Reveal() != "hunter2" {
		t.Errorf("%s %s", b, s)
	}
}

func TestMTLSAllowedPeersAndHealthAddr(t *testing.T) {
	const base = "mode: proxy-sidecar\nlistener: {reverse_proxy_backend: 'http://127.0.0.1:8001', health_addr: '127.0.0.1:19091'}\nspiffe: {}\n"
	cfg, err := Load([]byte(base+"mtls: {mode: strict, allowed_peers: ['spiffe://td/ns/a/sa/b']}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if r.MTLS != MTLSStrict || len(r.MTLSAllowedPeers) != 1 || r.MTLSAllowedPeers[0] != "spiffe://td/ns/a/sa/b" {
		t.Errorf("mtls = %s %v", r.MTLS, r.MTLSAllowedPeers)
	}
	if r.Listeners.Health != "127.0.0.1:19091" || r.Listeners.Stats != DefaultStatsAddr {
		t.Errorf("health %q stats %q", r.Listeners.Health, r.Listeners.Stats)
	}
	for _, bad := range []struct{ peers, want string }{
		{"['not-an-id']", "mtls.allowed_peers[0]"},
		{"['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/b']", "mtls.allowed_peers[1]: \"spiffe://td/ns/a/sa/b\" given twice"},
	} {
		cfg, err := Load([]byte(base+"mtls: {mode: strict, allowed_peers: "+bad.peers+"}\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("allowed_peers %s: error %v, want %q", bad.peers, err, bad.want)
		}
	}
}

// TestCheckLite: the lite image has the token plugins only; another plugin that runs is
// refused at its entry, one with on_error: off is not.
func TestCheckLite(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"the full pipeline", valid, []string{
			"pipeline.inbound.plugins[0].name: a2a-parser is not a plugin of the lite image",
			"pipeline.inbound.plugins[2].name: opa is not a plugin of the lite image",
			"pipeline.outbound.plugins[1].name: opa is not a plugin of the lite image",
		}},
		{"the others off", strings.NewReplacer("      - a2a-parser\n", "      - {name: a2a-parser, on_error: off}\n", "      - name: opa\n", "      - {name: opa, on_error: off}\n").Replace(valid), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := check(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			err = r.CheckLite()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q", err, w)
				}
			}
		})
	}
}
