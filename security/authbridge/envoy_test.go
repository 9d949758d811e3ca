package authbridge

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// TestEnvoyConfig: the listeners, clusters and TLS of each mTLS mode, read back from the
// YAML; the same input gives the same bytes.
func TestEnvoyConfig(t *testing.T) {
	for _, c := range []struct {
		mode agentv1.MTLSMode
		keys int
		// inbound filter chains by transport protocol ("" = no match, plaintext only)
		inbound  []string
		upstream string // the cluster outbound HTTP goes to
	}{
		{mode: agentv1.MTLSDisabled, keys: 1, inbound: []string{""}, upstream: envoyOriginalDst},
		{mode: agentv1.MTLSPermissive, keys: 2, inbound: []string{"tls", "raw_buffer"}, upstream: envoyOriginalDst},
		{mode: agentv1.MTLSStrict, keys: 1, inbound: []string{"tls"}, upstream: envoyOriginalDstTLS},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			data, err := EnvoyConfig(EnvoyInput{MTLS: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != c.keys {
				t.Errorf("%d keys, want %d", len(data), c.keys)
			}
			again, _ := EnvoyConfig(EnvoyInput{MTLS: c.mode})
			for k := range data {
				if again[k] != data[k] {
					t.Errorf("%s differs between two renders", k)
				}
			}
			var b envoyBootstrap
			if err := yaml.UnmarshalStrict([]byte(data[KeyEnvoyYAML]), &b); err != nil {
				t.Fatal(err)
			}
			if a := b.Admin.Address.SocketAddress; a.Address != "127.0.0.1" || a.PortValue != 9901 {
				t.Errorf("admin on %s:%d, want loopback 9901", a.Address, a.PortValue)
			}
			out, in := b.StaticResources.Listeners[0], b.StaticResources.Listeners[1]
			if out.Name != "outbound_listener" || out.Address.SocketAddress.PortValue != 15123 || in.Name != "inbound_listener" || in.Address.SocketAddress.PortValue != 15124 {
				t.Fatalf("listeners %s:%d, %s:%d", out.Name, out.Address.SocketAddress.PortValue, in.Name, in.Address.SocketAddress.PortValue)
			}
			// Outbound: the application's TLS passes through; its HTTP goes to ext_proc
			// with the direction header removed.
			pass, http := out.FilterChains[0], out.FilterChains[1]
			if pass.FilterChainMatch.TransportProtocol != "tls" || pass.Filters[0].TypedConfig.Cluster != envoyOriginalDst || pass.TransportSocket != nil {
				t.Errorf("outbound TLS chain %+v", pass)
			}
			hcm := http.Filters[0].TypedConfig
			if got := hcm.RouteConfig.VirtualHosts[0].Routes[0].Route.Cluster; got != c.upstream {
				t.Errorf("outbound HTTP goes to %s, want %s", got, c.upstream)
			}
			if m := hcm.HTTPFilters[0].TypedConfig.Mutations.RequestMutations[0]; m.Remove != DirectionHeader {
				t.Errorf("outbound direction mutation %+v, want the header removed", m)
			}
			var protocols []string
			for _, fc := range in.FilterChains {
				p := ""
				if fc.FilterChainMatch != nil {
					p = fc.FilterChainMatch.TransportProtocol
				}
				protocols = append(protocols, p)
				if (p == "tls") != (fc.TransportSocket != nil) {
					t.Errorf("inbound chain %q with transport socket %v", p, fc.TransportSocket)
				}
				if ts := fc.TransportSocket; ts != nil {
					common := ts.TypedConfig.CommonTLSContext
					if ts.TypedConfig.RequireClientCertificate == nil || !*ts.TypedConfig.RequireClientCertificate ||
						common.TLSCertificates[0].CertificateChain.Filename != SVIDCertFile || common.TLSCertificates[0].PrivateKey.Filename != SVIDKeyFile ||
						common.ValidationContext.TrustedCA.Filename != SVIDBundleFile || common.TLSParams.Min != "TLSv1_3" {
						t.Errorf("inbound TLS %+v", ts.TypedConfig)
					}
				}
				in := fc.Filters[0].TypedConfig
				set := in.HTTPFilters[0].TypedConfig.Mutations.RequestMutations[0].Append
				if set == nil || set.Header != (envoyHeader{Key: DirectionHeader, Value: "inbound"}) || set.AppendAction != "OVERWRITE_IF_EXISTS_OR_ADD" {
					t.Errorf("inbound direction mutation %+v", set)
				}
				if ext := in.HTTPFilters[1].TypedConfig; ext.Type != envoyTypeExtProc || ext.FailureModeAllow == nil || *ext.FailureModeAllow {
					t.Errorf("inbound ext_proc %+v, want it to fail closed", ext)
				}
			}
			if strings.Join(protocols, ",") != strings.Join(c.inbound, ",") {
				t.Errorf("inbound chains %q, want %q", protocols, c.inbound)
			}
			if len(data) == 2 {
				plain, _ := EnvoyConfig(EnvoyInput{MTLS: agentv1.MTLSDisabled})
				if data[KeyEnvoyPlaintextYAML] != plain[KeyEnvoyYAML] {
					t.Error("the plaintext variant is not the disabled configuration")
				}
			}
		})
	}
}

func TestExtProcEndpoint(t *testing.T) {
	for _, c := range []struct {
		addr, host string
		port       int32
		err        string
	}{
		{addr: "", host: "127.0.0.1", port: 9090},
		{addr: ":9191", host: "127.0.0.1", port: 9191},
		{addr: "0.0.0.0:9090", host: "127.0.0.1", port: 9090},
		{addr: "[::]:9090", host: "127.0.0.1", port: 9090},
		{addr: "localhost:9090", host: "127.0.0.1", port: 9090},
		{addr: "127.0.0.1:9092", host: "127.0.0.1", port: 9092},
		{addr: "[::1]:9090", host: "::1", port: 9090},
		{addr: "ext-proc:9090", err: "Envoy dials the ext_proc server by IP address"},
		{addr: ":15123", err: "port 15123 is one of Envoy's own"},
		{addr: ":9901", err: "port 9901 is one of Envoy's own"},
		{addr: ":0", err: "want a port from 1 to 65535"},
		{addr: ":http", err: "want a port from 1 to 65535"},
		{addr: "9090", err: "missing port"},
	} {
		host, port, err := extProcEndpoint(c.addr)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: got %v, want an error containing %q", c.addr, err, c.err)
		case c.err == "" && (err != nil || host != c.host || port != c.port):
			t.Errorf("%q: got %s:%d (%v), want %s:%d", c.addr, host, port, err, c.host, c.port)
		}
	}
}

// TestCheckEnvoyConfig: what Envoy would refuse at start is refused on the way back.
func TestCheckEnvoyConfig(t *testing.T) {
	data, err := EnvoyConfig(EnvoyInput{MTLS: agentv1.MTLSStrict})
	if err != nil {
		t.Fatal(err)
	}
	good := data[KeyEnvoyYAML]
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown field", "message_timeout: 30s", "message_timeout: 30s\n              max_message_timeout: 60s", `unknown field "max_message_timeout"`},
		{"undefined cluster", "cluster: original_destination_tls", "cluster: nowhere", `cluster "nowhere" is not defined`},
		{"two listeners on one port", "port_value: 15124", "port_value: 15123", "port 15123 is also outbound_listener's"},
		{"a filter with another filter's config", "envoy.filters.http.router\n", "envoy.filters.http.lua\n", `filter "envoy.filters.http.lua"`},
		{"router not last", "'@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "'@type': type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", "not the router"},
		{"downstream TLS on a cluster", "UpstreamTlsContext", "DownstreamTlsContext", "static_resources.clusters[1]: transport socket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("test case: %q not in the configuration", c.from)
			}
			if err := CheckEnvoyConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := CheckEnvoyConfig([]byte(good)); err != nil {
		t.Errorf("the generated configuration: %v", err)
	}
}
