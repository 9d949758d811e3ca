package authbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// The per-agent Envoy configuration of an envoy-sidecar agent.
const (
	// EnvoyConfigPrefix prefixes the ConfigMap envoy-config-<workload>.
	EnvoyConfigPrefix = "envoy-config-"
	// KeyEnvoyYAML is the configuration for the agent's mTLS mode; the authbridge-envoy
	// image starts Envoy with EnvoyConfigDir/envoy.yaml.
	KeyEnvoyYAML = "envoy.yaml"
	// KeyEnvoyPlaintextYAML is the configuration without mTLS, rendered beside envoy.yaml
	// for a permissive agent: where SPIRE turns out to be absent there are no SVID files,
	// and the webhook mounts this key as envoy.yaml instead.
	KeyEnvoyPlaintextYAML = "envoy-plaintext.yaml"
	// EnvoyConfigDir is where the Envoy sidecar reads its configuration.
	EnvoyConfigDir = "/etc/envoy"
	// The X.509-SVID files the sidecar's SPIFFE helper writes into svid-output (/opt).
	SVIDCertFile   = "/opt/svid.pem"
	SVIDKeyFile    = "/opt/svid_key.pem"
	SVIDBundleFile = "/opt/svid_bundle.pem"
	// DirectionHeader tells the ext_proc server which way a request goes.
	DirectionHeader = "x-authbridge-direction"
)

// Names in the Envoy configuration.
const (
	envoyOutboundListener   = "outbound_listener"
	envoyInboundListener    = "inbound_listener"
	envoyOriginalDst        = "original_destination"
	envoyOriginalDstTLS     = "original_destination_tls"
	envoyExtProcCluster     = "ext_proc_cluster"
	envoyTypeOriginalDst    = "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
	envoyTypeTLSInspector   = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
	envoyTypeHCM            = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	envoyTypeTCPProxy       = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	envoyTypeExtProc        = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
	envoyTypeHeaderMutation = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
	envoyTypeRouter         = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	envoyTypeDownstreamTLS  = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	envoyTypeUpstreamTLS    = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	envoyTypeHTTPOptions    = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	envoyHTTPOptionsKey     = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// envoyFilterTypes is the typed_config @type each filter name takes.
var envoyFilterTypes = map[string]string{
	"envoy.filters.listener.original_dst":           envoyTypeOriginalDst,
	"envoy.filters.listener.tls_inspector":          envoyTypeTLSInspector,
	"envoy.filters.network.http_connection_manager": envoyTypeHCM,
	"envoy.filters.network.tcp_proxy":               envoyTypeTCPProxy,
	"envoy.filters.http.ext_proc":                   envoyTypeExtProc,
	"envoy.filters.http.header_mutation":            envoyTypeHeaderMutation,
	"envoy.filters.http.router":                     envoyTypeRouter,
}

// EnvoyInput is what an agent's Envoy configuration is made of.
type EnvoyInput struct {
	// MTLS is the agent's mTLS mode between sidecars.
	MTLS agentv1.MTLSMode
	// ExtProcAddr is where the agent's ext_proc server listens (listener.ext_proc_addr of
	// its config.yaml); empty is :9090.
	ExtProcAddr string
}

// EnvoyConfig is the data of the agent's ConfigMap envoy-config-<workload>: envoy.yaml for
// its mTLS mode, and for permissive also envoy-plaintext.yaml. Each is checked as it would
// be read back; the same input always gives the same bytes.
func EnvoyConfig(in EnvoyInput) (map[string]string, error) {
	host, port, err := extProcEndpoint(in.ExtProcAddr)
	if err != nil {
		return nil, err
	}
	modes := map[string]agentv1.MTLSMode{KeyEnvoyYAML: in.MTLS}
	if in.MTLS == agentv1.MTLSPermissive {
		modes[KeyEnvoyPlaintextYAML] = agentv1.MTLSDisabled
	}
	data := map[string]string{}
	for key, mode := range modes {
		b, err := yaml.Marshal(envoyBootstrapFor(mode, host, port))
		if err != nil {
			return nil, err
		}
		if err := CheckEnvoyConfig(b); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err) // a bug of this generator, never of the input
		}
		data[key] = string(b)
	}
	return data, nil
}

// extProcEndpoint is the address Envoy's STATIC cluster dials for the ext_proc server: a
// wildcard or empty host is the loopback, where a sidecar-local server is reached.
func extProcEndpoint(addr string) (string, int32, error) {
	if addr == "" {
		addr = ":" + strconv.Itoa(int(extProcPort))
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("%q: want a port from 1 to 65535", addr)
	}
	if slices.Contains([]int32{envoyOutboundPort, envoyInboundPort, envoyAdminPort}, int32(port)) {
		return "", 0, fmt.Errorf("%q: port %d is one of Envoy's own (%d, %d, %d)", addr, port, envoyOutboundPort, envoyInboundPort, envoyAdminPort)
	}
	switch ip := net.ParseIP(host); {
	case host == "" || host == "localhost" || (ip != nil && ip.IsUnspecified()):
		host = "127.0.0.1"
	case ip == nil:
		return "", 0, fmt.Errorf("%q: Envoy dials the ext_proc server by IP address; give an IP or leave the host empty", addr)
	}
	return host, int32(port), nil
}

// envoyBootstrapFor is the configuration for one mTLS mode. Outbound, the application's
// plaintext HTTP goes through ext_proc (token exchange, policy) to where it was headed —
// over mTLS when strict — and its own TLS passes through unread, as upstream's demos have
// it. Inbound, ext_proc sees every request (JWT validation, policy); with mTLS the peer
// must present an SVID of the trust domain, and permissive also takes plaintext.
func envoyBootstrapFor(mode agentv1.MTLSMode, extProcHost string, extProcPort int32) *envoyBootstrap {
	mtls := mode == agentv1.MTLSPermissive || mode == agentv1.MTLSStrict
	upstream := envoyOriginalDst
	if mode == agentv1.MTLSStrict {
		upstream = envoyOriginalDstTLS
	}
	outbound := envoyListener{
		Name:    envoyOutboundListener,
		Address: socketAddress("0.0.0.0", envoyOutboundPort),
		ListenerFilters: []envoyListenerFilter{
			listenerFilter("envoy.filters.listener.original_dst"),
			listenerFilter("envoy.filters.listener.tls_inspector"),
		},
		FilterChains: []envoyFilterChain{
			{
				FilterChainMatch: &envoyFilterChainMatch{TransportProtocol: "tls"},
				Filters: []envoyNetworkFilter{{Name: "envoy.filters.network.tcp_proxy", TypedConfig: envoyNetworkConfig{
					Type: envoyTypeTCPProxy, StatPrefix: "outbound_tls_passthrough", Cluster: envoyOriginalDst,
				}}},
			},
			{
				FilterChainMatch: &envoyFilterChainMatch{TransportProtocol: "raw_buffer"},
				// The application must not choose its direction: the header is removed,
				// so ext_proc treats the request as outbound.
				Filters: []envoyNetworkFilter{httpConnectionManager("outbound_http", upstream, false,
					envoyHeaderMutation{Remove: DirectionHeader})},
			},
		},
	}
	inboundHCM := func(statPrefix string) envoyNetworkFilter {
		// Overwritten, never added to: a caller's own header must not make ext_proc
		// take an inbound request for an outbound one.
		return httpConnectionManager(statPrefix, envoyOriginalDst, true, envoyHeaderMutation{Append: &envoyHeaderValueOption{
			Header: envoyHeader{Key: DirectionHeader, Value: "inbound"}, AppendAction: "OVERWRITE_IF_EXISTS_OR_ADD",
		}})
	}
	inbound := envoyListener{
		Name:            envoyInboundListener,
		Address:         socketAddress("0.0.0.0", envoyInboundPort),
		ListenerFilters: []envoyListenerFilter{listenerFilter("envoy.filters.listener.original_dst")},
	}
	if !mtls {
		inbound.FilterChains = []envoyFilterChain{{Filters: []envoyNetworkFilter{inboundHCM("inbound_http")}}}
	} else {
		inbound.ListenerFilters = append(inbound.ListenerFilters, listenerFilter("envoy.filters.listener.tls_inspector"))
		inbound.FilterChains = []envoyFilterChain{{
			FilterChainMatch: &envoyFilterChainMatch{TransportProtocol: "tls"},
			TransportSocket:  svidTransportSocket(envoyTypeDownstreamTLS),
			Filters:          []envoyNetworkFilter{inboundHCM("inbound_http_tls")},
		}}
		if mode == agentv1.MTLSPermissive {
			// strict has no plaintext chain: a plaintext connection matches none and is closed.
			inbound.FilterChains = append(inbound.FilterChains, envoyFilterChain{
				FilterChainMatch: &envoyFilterChainMatch{TransportProtocol: "raw_buffer"},
				Filters:          []envoyNetworkFilter{inboundHCM("inbound_http_plain")},
			})
		}
	}
	clusters := []envoyCluster{originalDestination(envoyOriginalDst)}
	if mode == agentv1.MTLSStrict {
		tls := originalDestination(envoyOriginalDstTLS)
		tls.TransportSocket = svidTransportSocket(envoyTypeUpstreamTLS)
		clusters = append(clusters, tls)
	}
	clusters = append(clusters, envoyCluster{
		Name:           envoyExtProcCluster,
		ConnectTimeout: "5s",
		Type:           "STATIC",
		LoadAssignment: &envoyLoadAssignment{ClusterName: envoyExtProcCluster, Endpoints: []envoyLocalityEndpoints{{
			LBEndpoints: []envoyLBEndpoint{{Endpoint: envoyEndpoint{Address: socketAddress(extProcHost, extProcPort)}}},
		}}},
		// ext_proc is gRPC, so HTTP/2.
		TypedExtensionProtocolOptions: map[string]envoyHTTPProtocolOptions{envoyHTTPOptionsKey: {
			Type: envoyTypeHTTPOptions, ExplicitHTTPConfig: &envoyExplicitHTTPConfig{HTTP2ProtocolOptions: &struct{}{}},
		}},
	})
	return &envoyBootstrap{
		// The admin API is unauthenticated: loopback only.
		Admin: envoyAdmin{Address: socketAddress("127.0.0.1", envoyAdminPort)},
		StaticResources: envoyStaticResources{
			Listeners: []envoyListener{outbound, inbound},
			Clusters:  clusters,
		},
	}
}

func socketAddress(host string, port int32) envoyAddress {
	return envoyAddress{SocketAddress: envoySocketAddress{Protocol: "TCP", Address: host, PortValue: port}}
}

func listenerFilter(name string) envoyListenerFilter {
	return envoyListenerFilter{Name: name, TypedConfig: envoyTyped{Type: envoyFilterTypes[name]}}
}

// httpConnectionManager passes every request through ext_proc, after the direction
// header is set or removed, and routes it to cluster. Inbound paths are normalized so
// that policy sees the path the application serves.
func httpConnectionManager(statPrefix, cluster string, inbound bool, direction envoyHeaderMutation) envoyNetworkFilter {
	hcm := envoyNetworkConfig{
		Type:       envoyTypeHCM,
		StatPrefix: statPrefix,
		CodecType:  "AUTO",
		RouteConfig: &envoyRouteConfig{
			Name: statPrefix + "_routes",
			VirtualHosts: []envoyVirtualHost{{
				Name:    statPrefix,
				Domains: []string{"*"},
				// No overall timeout: streamed (SSE) responses end when they end; the
				// connection manager's 5-minute stream idle timeout still applies.
				Routes: []envoyRoute{{Match: envoyRouteMatch{Prefix: "/"}, Route: envoyRouteAction{Cluster: cluster, Timeout: "0s"}}},
			}},
		},
		HTTPFilters: []envoyHTTPFilter{
			{Name: "envoy.filters.http.header_mutation", TypedConfig: envoyHTTPFilterConfig{
				Type: envoyTypeHeaderMutation, Mutations: &envoyMutations{RequestMutations: []envoyHeaderMutation{direction}},
			}},
			{Name: "envoy.filters.http.ext_proc", TypedConfig: envoyHTTPFilterConfig{
				Type:        envoyTypeExtProc,
				GRPCService: &envoyGRPCService{EnvoyGRPC: envoyGRPCCluster{ClusterName: envoyExtProcCluster}, Timeout: "30s"},
				// Fail closed: a request ext_proc cannot decide on is refused.
				FailureModeAllow: ptrBool(false),
				// Envoy's 200 ms default is shorter than a token exchange.
				MessageTimeout:    "30s",
				AllowModeOverride: ptrBool(true),
				ProcessingMode: &envoyProcessingMode{
					RequestHeaderMode: "SEND", ResponseHeaderMode: "SKIP", RequestBodyMode: "NONE", ResponseBodyMode: "NONE",
				},
			}},
			{Name: "envoy.filters.http.router", TypedConfig: envoyHTTPFilterConfig{Type: envoyTypeRouter}},
		},
	}
	if inbound {
		hcm.NormalizePath, hcm.MergeSlashes = ptrBool(true), ptrBool(true)
	}
	return envoyNetworkFilter{Name: "envoy.filters.network.http_connection_manager", TypedConfig: hcm}
}

// svidTransportSocket is TLS with the pod's X.509-SVID, verifying the peer's against the
// trust bundle. TLS 1.3 only, as the proxy sidecar: Envoy's client default would offer at
// most 1.2, which a proxy-sidecar peer refuses. Envoy reads the files at start.
func svidTransportSocket(contextType string) *envoyTransportSocket {
	ctx := envoyTLSContext{
		Type: contextType,
		CommonTLSContext: envoyCommonTLSContext{
			TLSParams:         envoyTLSParams{Min: "TLSv1_3", Max: "TLSv1_3"},
			TLSCertificates:   []envoyTLSCertificate{{CertificateChain: envoyDataSource{Filename: SVIDCertFile}, PrivateKey: envoyDataSource{Filename: SVIDKeyFile}}},
			ValidationContext: envoyValidationContext{TrustedCA: envoyDataSource{Filename: SVIDBundleFile}},
		},
	}
	if contextType == envoyTypeDownstreamTLS {
		ctx.RequireClientCertificate = ptrBool(true)
	}
	return &envoyTransportSocket{Name: "envoy.transport_sockets.tls", TypedConfig: ctx}
}

func originalDestination(name string) envoyCluster {
	return envoyCluster{Name: name, ConnectTimeout: "10s", Type: "ORIGINAL_DST", LBPolicy: "CLUSTER_PROVIDED"}
}

func ptrBool(b bool) *bool { return &b }

// CheckEnvoyConfig reads an envoy.yaml back into the types it was written from, refusing
// any field they do not have, and checks what Envoy would refuse at start: a filter whose
// typed_config is of another filter, a cluster that is not defined, two listeners on one
// port, an HTTP filter chain that does not end with the router.
func CheckEnvoyConfig(data []byte) error {
	var b envoyBootstrap
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		return err
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	typed := func(where, name, typ string) {
		want, ok := envoyFilterTypes[name]
		if !ok || want != typ {
			fail("%s: filter %q with typed_config %q", where, name, typ)
		}
	}
	clusters := map[string]bool{}
	for i, c := range b.StaticResources.Clusters {
		if clusters[c.Name] {
			fail("static_resources.clusters[%d]: cluster %q defined twice", i, c.Name)
		}
		clusters[c.Name] = true
		if c.TransportSocket != nil && c.TransportSocket.TypedConfig.Type != envoyTypeUpstreamTLS {
			fail("static_resources.clusters[%d]: transport socket %q", i, c.TransportSocket.TypedConfig.Type)
		}
	}
	cluster := func(where, name string) {
		if !clusters[name] {
			fail("%s: cluster %q is not defined", where, name)
		}
	}
	ports := map[int32]string{b.Admin.Address.SocketAddress.PortValue: "admin"}
	for i, l := range b.StaticResources.Listeners {
		where := fmt.Sprintf("static_resources.listeners[%d]", i)
		if other, dup := ports[l.Address.SocketAddress.PortValue]; dup {
			fail("%s: port %d is also %s's", where, l.Address.SocketAddress.PortValue, other)
		}
		ports[l.Address.SocketAddress.PortValue] = l.Name
		for j, f := range l.ListenerFilters {
			typed(fmt.Sprintf("%s.listener_filters[%d]", where, j), f.Name, f.TypedConfig.Type)
		}
		if len(l.FilterChains) == 0 {
			fail("%s: no filter chain", where)
		}
		for j, fc := range l.FilterChains {
			at := fmt.Sprintf("%s.filter_chains[%d]", where, j)
			if ts := fc.TransportSocket; ts != nil && ts.TypedConfig.Type != envoyTypeDownstreamTLS {
				fail("%s.transport_socket: %q", at, ts.TypedConfig.Type)
			}
			for k, f := range fc.Filters {
				at := fmt.Sprintf("%s.filters[%d]", at, k)
				typed(at, f.Name, f.TypedConfig.Type)
				c := f.TypedConfig
				if c.Type == envoyTypeTCPProxy {
					cluster(at, c.Cluster)
					continue
				}
				if c.RouteConfig == nil || len(c.HTTPFilters) == 0 {
					fail("%s: HTTP connection manager without routes or HTTP filters", at)
					continue
				}
				for _, vh := range c.RouteConfig.VirtualHosts {
					for _, r := range vh.Routes {
						cluster(at, r.Route.Cluster)
					}
				}
				for m, h := range c.HTTPFilters {
					typed(fmt.Sprintf("%s.http_filters[%d]", at, m), h.Name, h.TypedConfig.Type)
					if g := h.TypedConfig.GRPCService; g != nil {
						cluster(at, g.EnvoyGRPC.ClusterName)
					}
				}
				if last := c.HTTPFilters[len(c.HTTPFilters)-1]; last.TypedConfig.Type != envoyTypeRouter {
					fail("%s: the last HTTP filter is %q, not the router", at, last.Name)
				}
			}
		}
	}
	// The bytes must be what the types give, so nothing was dropped on the way back.
	again, err := yaml.Marshal(&b)
	if err == nil && !bytes.Equal(normalizeYAML(data), normalizeYAML(again)) {
		fail("the configuration does not read back as written")
	}
	return errors.Join(errs...)
}

// normalizeYAML is a YAML document as JSON with sorted keys, for comparing documents.
func normalizeYAML(data []byte) []byte {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return data
	}
	var v any
	if json.Unmarshal(j, &v) != nil {
		return j
	}
	out, _ := json.Marshal(v)
	return out
}

// The subset of Envoy's v3 bootstrap the per-agent configuration uses, field names as
// Envoy reads them.
type envoyBootstrap struct {
	Admin           envoyAdmin           `json:"admin"`
	StaticResources envoyStaticResources `json:"static_resources"`
}

type envoyAdmin struct {
	Address envoyAddress `json:"address"`
}

type envoyAddress struct {
	SocketAddress envoySocketAddress `json:"socket_address"`
}

type envoySocketAddress struct {
	Protocol  string `json:"protocol,omitempty"`
	Address   string `json:"address"`
	PortValue int32  `json:"port_value"`
}

type envoyStaticResources struct {
	Listeners []envoyListener `json:"listeners"`
	Clusters  []envoyCluster  `json:"clusters"`
}

type envoyListener struct {
	Name            string                `json:"name"`
	Address         envoyAddress          `json:"address"`
	ListenerFilters []envoyListenerFilter `json:"listener_filters,omitempty"`
	FilterChains    []envoyFilterChain    `json:"filter_chains"`
}

type envoyListenerFilter struct {
	Name        string     `json:"name"`
	TypedConfig envoyTyped `json:"typed_config"`
}

// envoyTyped is a typed_config with no fields but its type.
type envoyTyped struct {
	Type string `json:"@type"`
}

type envoyFilterChain struct {
	FilterChainMatch *envoyFilterChainMatch `json:"filter_chain_match,omitempty"`
	TransportSocket  *envoyTransportSocket  `json:"transport_socket,omitempty"`
	Filters          []envoyNetworkFilter   `json:"filters"`
}

type envoyFilterChainMatch struct {
	TransportProtocol string `json:"transport_protocol"`
}

type envoyTransportSocket struct {
	Name        string          `json:"name"`
	TypedConfig envoyTLSContext `json:"typed_config"`
}

// envoyTLSContext is a DownstreamTlsContext or an UpstreamTlsContext.
type envoyTLSContext struct {
	Type                     string                `json:"@type"`
	RequireClientCertificate *bool                 `json:"require_client_certificate,omitempty"`
	CommonTLSContext         envoyCommonTLSContext `json:"common_tls_context"`
}

type envoyCommonTLSContext struct {
	TLSParams         envoyTLSParams         `json:"tls_params"`
	TLSCertificates   []envoyTLSCertificate  `json:"tls_certificates"`
	ValidationContext envoyValidationContext `json:"validation_context"`
}

type envoyTLSParams struct {
	Min string `json:"tls_minimum_protocol_version"`
	Max string `json:"tls_maximum_protocol_version"`
}

type envoyTLSCertificate struct {
	CertificateChain envoyDataSource `json:"certificate_chain"`
	PrivateKey       envoyDataSource `json:"private_key"`
}

type envoyDataSource struct {
	Filename string `json:"filename"`
}

type envoyValidationContext struct {
	TrustedCA envoyDataSource `json:"trusted_ca"`
}

type envoyNetworkFilter struct {
	Name        string             `json:"name"`
	TypedConfig envoyNetworkConfig `json:"typed_config"`
}

// envoyNetworkConfig is an HttpConnectionManager or a TcpProxy; @type says which.
type envoyNetworkConfig struct {
	Type       string `json:"@type"`
	StatPrefix string `json:"stat_prefix"`
	// TcpProxy
	Cluster string `json:"cluster,omitempty"`
	// HttpConnectionManager
	CodecType     string            `json:"codec_type,omitempty"`
	NormalizePath *bool             `json:"normalize_path,omitempty"`
	MergeSlashes  *bool             `json:"merge_slashes,omitempty"`
	RouteConfig   *envoyRouteConfig `json:"route_config,omitempty"`
	HTTPFilters   []envoyHTTPFilter `json:"http_filters,omitempty"`
}

type envoyRouteConfig struct {
	Name         string             `json:"name"`
	VirtualHosts []envoyVirtualHost `json:"virtual_hosts"`
}

type envoyVirtualHost struct {
	Name    string       `json:"name"`
	Domains []string     `json:"domains"`
	Routes  []envoyRoute `json:"routes"`
}

type envoyRoute struct {
	Match envoyRouteMatch  `json:"match"`
	Route envoyRouteAction `json:"route"`
}

type envoyRouteMatch struct {
	Prefix string `json:"prefix"`
}

type envoyRouteAction struct {
	Cluster string `json:"cluster"`
	Timeout string `json:"timeout"`
}

type envoyHTTPFilter struct {
	Name        string                `json:"name"`
	TypedConfig envoyHTTPFilterConfig `json:"typed_config"`
}

// envoyHTTPFilterConfig is an ExternalProcessor, a HeaderMutation or a Router; @type says
// which.
type envoyHTTPFilterConfig struct {
	Type string `json:"@type"`
	// ExternalProcessor
	GRPCService       *envoyGRPCService    `json:"grpc_service,omitempty"`
	FailureModeAllow  *bool                `json:"failure_mode_allow,omitempty"`
	MessageTimeout    string               `json:"message_timeout,omitempty"`
	AllowModeOverride *bool                `json:"allow_mode_override,omitempty"`
	ProcessingMode    *envoyProcessingMode `json:"processing_mode,omitempty"`
	// HeaderMutation
	Mutations *envoyMutations `json:"mutations,omitempty"`
}

type envoyGRPCService struct {
	EnvoyGRPC envoyGRPCCluster `json:"envoy_grpc"`
	Timeout   string           `json:"timeout"`
}

type envoyGRPCCluster struct {
	ClusterName string `json:"cluster_name"`
}

type envoyProcessingMode struct {
	RequestHeaderMode  string `json:"request_header_mode"`
	ResponseHeaderMode string `json:"response_header_mode"`
	RequestBodyMode    string `json:"request_body_mode"`
	ResponseBodyMode   string `json:"response_body_mode"`
}

type envoyMutations struct {
	RequestMutations []envoyHeaderMutation `json:"request_mutations"`
}

// envoyHeaderMutation removes a header or sets one.
type envoyHeaderMutation struct {
	Remove string                  `json:"remove,omitempty"`
	Append *envoyHeaderValueOption `json:"append,omitempty"`
}

type envoyHeaderValueOption struct {
	Header       envoyHeader `json:"header"`
	AppendAction string      `json:"append_action"`
}

type envoyHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type envoyCluster struct {
	Name                          string                              `json:"name"`
	ConnectTimeout                string                              `json:"connect_timeout"`
	Type                          string                              `json:"type"`
	LBPolicy                      string                              `json:"lb_policy,omitempty"`
	LoadAssignment                *envoyLoadAssignment                `json:"load_assignment,omitempty"`
	TypedExtensionProtocolOptions map[string]envoyHTTPProtocolOptions `json:"typed_extension_protocol_options,omitempty"`
	TransportSocket               *envoyTransportSocket               `json:"transport_socket,omitempty"`
}

type envoyLoadAssignment struct {
	ClusterName string                   `json:"cluster_name"`
	Endpoints   []envoyLocalityEndpoints `json:"endpoints"`
}

type envoyLocalityEndpoints struct {
	LBEndpoints []envoyLBEndpoint `json:"lb_endpoints"`
}

type envoyLBEndpoint struct {
	Endpoint envoyEndpoint `json:"endpoint"`
}

type envoyEndpoint struct {
	Address envoyAddress `json:"address"`
}

type envoyHTTPProtocolOptions struct {
	Type               string                   `json:"@type"`
	ExplicitHTTPConfig *envoyExplicitHTTPConfig `json:"explicit_http_config,omitempty"`
}

type envoyExplicitHTTPConfig struct {
	HTTP2ProtocolOptions *struct{} `json:"http2_protocol_options,omitempty"`
}
