package sidecarconfig

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxBytes bounds a config.yaml or routes.yaml, before and after environment expansion.
// ConfigMaps hold at most 1 MiB, and the sidecar's documents are a few KiB.
const MaxBytes = 1 << 20

// Mode says which AuthBridge binary a configuration is for.
type Mode string

const (
	// ModeProxySidecar is the in-process proxy: reverse, forward and transparent
	// listeners in the sidecar itself. It is the mode of this data plane.
	ModeProxySidecar Mode = "proxy-sidecar"
	// ModeEnvoySidecar is Envoy with the ext_proc server (image authbridge-envoy).
	ModeEnvoySidecar Mode = "envoy-sidecar"
	// ModeWaypoint is the ext_authz server behind an Istio waypoint.
	ModeWaypoint Mode = "waypoint"
)

// Modes are the valid modes.
var Modes = []Mode{ModeProxySidecar, ModeEnvoySidecar, ModeWaypoint}

// OnError is a plugin entry's policy for the plugin's denials (despite the name, it is
// not about errors): enforce them, only record them (observe), or leave the plugin out.
type OnError string

const (
	OnErrorEnforce OnError = "enforce"
	OnErrorObserve OnError = "observe"
	OnErrorOff     OnError = "off"
)

// Config is config.yaml as written (after environment expansion); Validate gives what
// it means.
type Config struct {
	Mode      Mode       `yaml:"mode"`
	Listener  Listener   `yaml:"listener"`
	Pipeline  Pipeline   `yaml:"pipeline"`
	Session   Session    `yaml:"session"`
	Stats     Stats      `yaml:"stats"`
	MTLS      *MTLS      `yaml:"mtls"`
	SPIFFE    *SPIFFE    `yaml:"spiffe"`
	TLSBridge *TLSBridge `yaml:"tls_bridge"`
	// EgressEnforcement is trustsync's record of the agent's egress mode (none or
	// enforce-redirect); the sidecar does not read it.
	EgressEnforcement string `yaml:"egressEnforcement"`

	// Ignored are the other top-level keys, which the sidecar ignores (as upstream
	// does: newer sidecars may read them), in document order.
	Ignored []string `yaml:"-"`
	// Variables are the environment variables the document refers to.
	Variables []Variable `yaml:"-"`
}

// Listener is where the sidecar listens and what it forwards to.
type Listener struct {
	ReverseProxyAddr     string `yaml:"reverse_proxy_addr"`
	ReverseProxyBackend  string `yaml:"reverse_proxy_backend"`
	ForwardProxyAddr     string `yaml:"forward_proxy_addr"`
	TransparentProxyAddr string `yaml:"transparent_proxy_addr"`
	SessionAPIAddr       string `yaml:"session_api_addr"`
	// HealthAddr is where /healthz and /readyz are served (newer upstream sidecars read
	// it too); :9091 when empty.
	HealthAddr   string   `yaml:"health_addr"`
	Roles        []string `yaml:"roles"`
	SkipHosts    []string `yaml:"skip_hosts"`
	ExtProcAddr  string   `yaml:"ext_proc_addr"`
	ExtAuthzAddr string   `yaml:"ext_authz_addr"`
}

// Pipeline holds the plugins of each direction, in the order they run.
type Pipeline struct {
	Inbound  Stage `yaml:"inbound"`
	Outbound Stage `yaml:"outbound"`
}

// Stage is one direction's plugin list.
type Stage struct {
	Plugins []PluginEntry `yaml:"plugins"`
}

// PluginEntry is one entry of a stage: a bare name, or {name, id, on_error, config}.
type PluginEntry struct {
	Name    string
	ID      string
	OnError OnError
	// config is the entry's config block as written; the plugin decodes it in Validate
	// (entries that are off never, as in the sidecar). Nil when absent or null.
	config *yaml.Node
}

// HasConfig says the entry has a non-null config block.
func (e *PluginEntry) HasConfig() bool { return e.config != nil }

func (e *PluginEntry) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" {
			d.p.add(path, "want a plugin name or {name, id, on_error, config}, not %s", kindName(n))
			return
		}
		e.Name = n.Value
	case yaml.MappingNode:
		d.eachKey(n, path, 0, []string{"config", "id", "name", "on_error"}, func(key string, v *yaml.Node) bool {
			switch key {
			case "name":
				d.decode(v, join(path, key), reflect.ValueOf(&e.Name).Elem(), 1)
			case "id":
				d.decode(v, join(path, key), reflect.ValueOf(&e.ID).Elem(), 1)
			case "on_error":
				d.decode(v, join(path, key), reflect.ValueOf(&e.OnError).Elem(), 1)
				switch e.OnError {
				case "", OnErrorEnforce, OnErrorObserve, OnErrorOff:
				default:
					d.p.add(join(path, key), "unknown value %q; valid values are enforce, observe, off", e.OnError)
				}
			case "config":
				if v = d.resolve(v, join(path, key), 1); v != nil && !isNull(v) {
					e.config = v
				}
			default:
				return false
			}
			return true
		})
		if e.Name == "" {
			d.p.add(join(path, "name"), "required")
		}
	default:
		d.p.add(path, "want a plugin name or {name, id, on_error, config}, not %s", kindName(n))
	}
}

// Session configures the in-memory session tracking and its events API.
type Session struct {
	// Enabled defaults to true.
	Enabled     *bool    `yaml:"enabled"`
	TTL         Duration `yaml:"ttl"`
	MaxEvents   int      `yaml:"max_events"`
	MaxSessions int      `yaml:"max_sessions"`
}

// Stats is the stats and config server.
type Stats struct {
	Address string `yaml:"address"`
}

// MTLSMode is the sidecar-to-sidecar TLS posture.
type MTLSMode string

const (
	MTLSPermissive MTLSMode = "permissive"
	MTLSStrict     MTLSMode = "strict"
)

// MTLS turns on mutual TLS with X.509-SVIDs between sidecars; absent means plaintext.
type MTLS struct {
	Mode MTLSMode `yaml:"mode"`
	// AllowedPeers are the SPIFFE IDs of the only sidecars accepted on either side of
	// a connection; empty accepts every SVID of the trust domain (upstream's only
	// rule). Upstream sidecars ignore the key.
	AllowedPeers []string `yaml:"allowed_peers"`
}

// SPIFFE configures the Workload API client that supplies the sidecar's SVIDs.
type SPIFFE struct {
	Socket      string `yaml:"socket"`
	MirrorFiles *bool  `yaml:"mirror_files"`
	MirrorDir   string `yaml:"mirror_dir"`
}

// TLSBridge terminates the agent's outbound TLS so the outbound pipeline sees HTTPS.
type TLSBridge struct {
	Mode             string   `yaml:"mode"`
	CADir            string   `yaml:"ca_dir"`
	GenerateCA       bool     `yaml:"generate_ca"`
	UpstreamCABundle string   `yaml:"upstream_ca_bundle"`
	PassthroughHosts []string `yaml:"passthrough_hosts"`
	Ports            []int    `yaml:"ports"`
}

// topLevel are the keys of Config that Load decodes; the rest are ignored.
var topLevel, topLevelKeys = fields(reflect.TypeFor[Config]())

// Load parses config.yaml as the sidecar does: environment references are expanded in
// the whole text first ($NAME and ${NAME} with env's values; undefined ones are kept as
// the literal ${NAME}), then the YAML is decoded. Unknown top-level keys are kept in
// Ignored; everywhere else a key must be known, a value must have its field's type and
// no key may appear twice. env may be nil: nothing is defined. Nothing is read from
// disk or network. On error there is no Config: the error lists every problem.
func Load(data []byte, env func(string) (string, bool)) (*Config, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	expanded, names, defined, err := expand(string(data), env)
	if err != nil {
		return nil, &FieldError{Err: err}
	}
	if len(expanded) > MaxBytes {
		return nil, &FieldError{Err: fmt.Errorf("%d bytes once the environment is expanded, over the limit of %d", len(expanded), MaxBytes)}
	}
	root, err := parse([]byte(expanded))
	if err != nil {
		return nil, &FieldError{Err: err}
	}
	cfg := &Config{}
	p := &problems{}
	d := &decoder{p: p}
	if root != nil {
		out := reflect.ValueOf(cfg).Elem()
		d.eachKey(root, "", 0, topLevelKeys, func(key string, v *yaml.Node) bool {
			if i, ok := topLevel[key]; ok {
				d.decode(v, key, out.Field(i), 1)
			} else {
				cfg.Ignored = append(cfg.Ignored, key)
			}
			return true
		})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	cfg.Variables = locate(data, names, defined)
	return cfg, nil
}

// checkText refuses what is no YAML document the sidecar could read.
func checkText(data []byte) error {
	if len(data) > MaxBytes {
		return &FieldError{Err: fmt.Errorf("%d bytes, over the limit of %d", len(data), MaxBytes)}
	}
	if !utf8.Valid(data) {
		return &FieldError{Err: fmt.Errorf("not UTF-8 text")}
	}
	return nil
}

// locate finds the field of each variable reference in the unexpanded document, when
// it parses as YAML.
func locate(data []byte, names []string, defined map[string]bool) []Variable {
	if len(names) == 0 {
		return nil
	}
	where := map[string]string{}
	if root, err := parse(data); err == nil && root != nil {
		walkScalars(root, "", 0, func(field, value string) {
			for _, name := range references(value) {
				if _, ok := where[name]; !ok {
					where[name] = field
				}
			}
		})
	}
	out := make([]Variable, 0, len(names))
	for _, n := range names {
		out = append(out, Variable{Name: n, Defined: defined[n], Field: where[n]})
	}
	return out
}

// walkScalars visits every scalar key and value of a parsed document with its field.
func walkScalars(n *yaml.Node, path string, depth int, visit func(field, value string)) {
	if depth > maxDepth {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		visit(path, n.Value)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkScalars(c, index(path, i), depth+1, visit)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			field := join(path, k.Value)
			if k.Kind == yaml.ScalarNode {
				visit(field, k.Value)
			}
			walkScalars(n.Content[i+1], field, depth+1, visit)
		}
	}
}

// known lists valid values for messages.
func known[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
