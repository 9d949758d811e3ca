package sidecarconfig

// Resolved is what a valid configuration means: the mode and who runs it, every
// listener with its default, each direction's pipeline in order with every plugin's
// effective on_error and its config with the defaults applied. It is what the data
// plane runs and what `trustsync authbridge check` prints.
type Resolved struct {
	Mode Mode `json:"mode"`
	// RunBy is the binary that runs the configuration. Only proxy-sidecar is this data
	// plane (ThisDataPlane); envoy-sidecar and waypoint configurations are valid for
	// upstream's other images and checked by the same rules.
	RunBy         string `json:"run_by"`
	ThisDataPlane bool   `json:"this_data_plane"`

	Listeners Listeners       `json:"listeners"`
	Inbound   ResolvedStage   `json:"inbound"`
	Outbound  ResolvedStage   `json:"outbound"`
	Session   ResolvedSession `json:"session"`
	// MTLS is permissive or strict; empty is plaintext.
	MTLS MTLSMode `json:"mtls,omitempty"`
	// MTLSAllowedPeers are the only peer SPIFFE IDs accepted; empty is every SVID of
	// the trust domain.
	MTLSAllowedPeers []string           `json:"mtls_allowed_peers,omitempty"`
	SPIFFE           *ResolvedSPIFFE    `json:"spiffe,omitempty"`
	TLSBridge        *ResolvedTLSBridge `json:"tls_bridge,omitempty"`
	// EgressEnforcement is trustsync's record of the egress mode, when written.
	EgressEnforcement string `json:"egress_enforcement,omitempty"`
	// Warnings are what the sidecar accepts but is probably not meant.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Binaries that run a configuration.
const (
	RunByProxy    = "authbridge-proxy"
	RunByEnvoy    = "authbridge-envoy"
	RunByWaypoint = "authbridge (waypoint)"
)

// Listeners are the addresses the sidecar binds, with the defaults filled; empty is not
// bound.
type Listeners struct {
	ReverseProxy        string   `json:"reverse_proxy,omitempty"`
	ReverseProxyBackend string   `json:"reverse_proxy_backend,omitempty"`
	ForwardProxy        string   `json:"forward_proxy,omitempty"`
	TransparentProxy    string   `json:"transparent_proxy,omitempty"`
	ExtProc             string   `json:"ext_proc,omitempty"`
	ExtAuthz            string   `json:"ext_authz,omitempty"`
	SessionAPI          string   `json:"session_api,omitempty"`
	Stats               string   `json:"stats"`
	Health              string   `json:"health,omitempty"`
	Roles               []string `json:"roles,omitempty"`
	SkipHosts           []string `json:"skip_hosts,omitempty"`
}

// ResolvedStage is one direction's pipeline: the plugins that run, in order, and the
// entries that are off.
type ResolvedStage struct {
	Plugins []Plugin   `json:"plugins"`
	Off     []OffEntry `json:"off,omitempty"`
}

// Plugin is a plugin that runs.
type Plugin struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
	// Field is the entry's place in the configuration, e.g. pipeline.inbound.plugins[2].
	Field string `json:"-"`
	// OnError is enforce or observe.
	OnError OnError `json:"on_error"`
	// Config is *JWTValidation, *TokenExchange, *MCPParser or *OPA with the defaults
	// applied; nil for the plugins without a config.
	Config any `json:"config,omitempty"`
}

// OffEntry is an entry with on_error: off, which the sidecar leaves out unread.
type OffEntry struct {
	// Index in the stage's list.
	Index int    `json:"index"`
	Name  string `json:"name"`
}

// ResolvedSession is session tracking with its defaults.
type ResolvedSession struct {
	Enabled     bool     `json:"enabled"`
	TTL         Duration `json:"ttl,omitempty"`
	MaxEvents   int      `json:"max_events,omitempty"`
	MaxSessions int      `json:"max_sessions,omitempty"`
}

// ResolvedSPIFFE is the Workload API client.
type ResolvedSPIFFE struct {
	Socket      string `json:"socket"`
	MirrorFiles bool   `json:"mirror_files"`
	MirrorDir   string `json:"mirror_dir,omitempty"`
}

// ResolvedTLSBridge is an enabled TLS bridge.
type ResolvedTLSBridge struct {
	CADir            string   `json:"ca_dir"`
	GenerateCA       bool     `json:"generate_ca,omitempty"`
	UpstreamCABundle string   `json:"upstream_ca_bundle,omitempty"`
	PassthroughHosts []string `json:"passthrough_hosts,omitempty"`
	Ports            []int    `json:"ports"`
}
