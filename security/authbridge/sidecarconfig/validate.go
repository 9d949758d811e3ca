package sidecarconfig

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustsync/trustsync/security/identity"
)

// Defaults of the listeners and the session store, as the sidecar fills them.
const (
	DefaultReverseProxyAddr     = ":8080"
	DefaultForwardProxyAddr     = ":8081"
	DefaultTransparentProxyAddr = ":8082"
	DefaultExtProcAddr          = ":9090"
	DefaultExtAuthzAddr         = ":9090"
	DefaultWaypointForwardAddr  = ":8080"
	DefaultSessionAPIAddr       = ":9094"
	// DefaultStatsAddr is on loopback: the stats server shows the configuration and
	// the metrics, which are for the pod's operators, not its network.
	DefaultStatsAddr = "127.0.0.1:9093"
	// HealthAddr is the default of listener.health_addr: /healthz and /readyz of the
	// proxy sidecar, for the kubelet.
	HealthAddr          = ":9091"
	DefaultSPIFFESocket = "unix:///spiffe-workload-api/spire-agent.sock"
	DefaultMirrorDir    = "/opt"
	DefaultSessionTTL   = 30 * time.Minute
	DefaultMaxEvents    = 500
	DefaultMaxSessions  = 100
)

// DefaultTLSBridgePorts are the ports the TLS bridge terminates by default.
var DefaultTLSBridgePorts = []int{443, 8443}

// Proxy roles of proxy-sidecar.
const (
	RoleReverse = "reverse"
	RoleForward = "forward"
)

// validation is one run of Validate.
type validation struct {
	p   *problems
	cfg *Config
	// d decodes the plugins' config blocks, with one node budget for all of them.
	d    *decoder
	opas []opaInstance
}

type opaInstance struct {
	field string
	c     *OPA
}

// Validate applies the sidecar's rules and defaults, and upstream AuthBridge's where
// this data plane has no reason to differ. It reports every problem at once, each
// naming its field.
func (c *Config) Validate() (*Resolved, error) {
	p := &problems{}
	v := &validation{p: p, cfg: c, d: &decoder{p: p}}
	r := &Resolved{}
	v.mode(r)
	v.listeners(r)
	v.session(r)
	v.security(r)
	r.Inbound = v.stage("pipeline.inbound", c.Pipeline.Inbound)
	r.Outbound = v.stage("pipeline.outbound", c.Pipeline.Outbound)
	v.oneOPA()
	v.ports(r)
	for _, k := range c.Ignored {
		v.p.warn(join("", k), "not a key of the sidecar's configuration; it ignores it")
	}
	for _, vr := range c.Variables {
		if !vr.Defined {
			v.p.warn(vr.Field, "${%s} is not set, so the sidecar reads the literal text ${%s}", vr.Name, vr.Name)
		}
	}
	if err := v.p.err(); err != nil {
		return nil, err
	}
	r.Warnings = v.p.warnings
	return r, nil
}

func (v *validation) mode(r *Resolved) {
	r.Mode = v.cfg.Mode
	switch v.cfg.Mode {
	case ModeProxySidecar:
		r.RunBy, r.ThisDataPlane = RunByProxy, true
	case ModeEnvoySidecar:
		r.RunBy = RunByEnvoy
	case ModeWaypoint:
		r.RunBy = RunByWaypoint
	case "":
		// The proxy binary would take an empty mode as its own; one file is read by
		// several images, so it has to say which.
		v.p.add("mode", "required: %s (this data plane), %s or %s", ModeProxySidecar, ModeEnvoySidecar, ModeWaypoint)
	default:
		v.p.add("mode", "unknown value %q; valid values are %s", v.cfg.Mode, known(Modes))
	}
}

// activeRoles are proxy-sidecar's roles: both unless listener.roles names some.
func (l *Listener) activeRoles() map[string]bool {
	if len(l.Roles) == 0 {
		return map[string]bool{RoleReverse: true, RoleForward: true}
	}
	roles := map[string]bool{}
	for _, r := range l.Roles {
		roles[r] = true
	}
	return roles
}

func (v *validation) listeners(r *Resolved) {
	l, p := &v.cfg.Listener, v.p
	out := &r.Listeners
	// notRead refuses a listener field the mode's binary refuses; unused is one it
	// ignores, which a namespace's defaults shared by agents of several modes may have.
	notRead := func(key, value, why string) {
		if value != "" {
			p.add("listener."+key, "%s does not read it%s", v.cfg.Mode, why)
		}
	}
	unused := func(key, value string) {
		if value != "" {
			p.warn("listener."+key, "%s does not read it", v.cfg.Mode)
		}
	}
	set := func(value, def string) string {
		if value == "" {
			return def
		}
		return value
	}
	switch v.cfg.Mode {
	case ModeProxySidecar:
		notRead("ext_proc_addr", l.ExtProcAddr, " (that is envoy-sidecar's)")
		notRead("ext_authz_addr", l.ExtAuthzAddr, " (that is waypoint's)")
		seen := map[string]bool{}
		for i, role := range l.Roles {
			switch {
			case role != RoleReverse && role != RoleForward:
				p.add(index("listener.roles", i), "unknown value %q; valid values are reverse, forward", role)
			case seen[role]:
				p.add(index("listener.roles", i), "%q given twice", role)
			}
			seen[role] = true
		}
		roles := l.activeRoles()
		if roles[RoleReverse] {
			out.ReverseProxy = set(l.ReverseProxyAddr, DefaultReverseProxyAddr)
			out.ReverseProxyBackend = l.ReverseProxyBackend
			if l.ReverseProxyBackend == "" {
				p.add("listener.reverse_proxy_backend", "required with the reverse role: where the agent listens")
			} else {
				checkBackend(p, l.ReverseProxyBackend)
			}
		} else if l.ReverseProxyAddr != "" || l.ReverseProxyBackend != "" {
			p.add("listener.roles", "has no reverse role, but reverse_proxy_addr or reverse_proxy_backend is set: nothing would listen there")
		}
		if roles[RoleForward] {
			out.ForwardProxy = set(l.ForwardProxyAddr, DefaultForwardProxyAddr)
			out.TransparentProxy = set(l.TransparentProxyAddr, DefaultTransparentProxyAddr)
		} else {
			if l.ForwardProxyAddr != "" || l.TransparentProxyAddr != "" {
				p.add("listener.roles", "has no forward role, but forward_proxy_addr or transparent_proxy_addr is set: nothing would listen there")
			}
			if tb := v.cfg.TLSBridge; tb != nil && tb.Mode == "enabled" {
				p.add("listener.roles", "has no forward role, which the TLS bridge (tls_bridge.mode enabled) needs: it works on outbound traffic")
			}
			if v.cfg.EgressEnforcement == "enforce-redirect" {
				p.add("listener.roles", "has no forward role, whose transparent listener receives the egress that enforce-redirect redirects")
			}
		}
		out.Roles = slices.Clone(l.Roles)
		out.Health = set(l.HealthAddr, HealthAddr)
	case ModeEnvoySidecar:
		notRead("reverse_proxy_addr", l.ReverseProxyAddr, " (Envoy takes inbound traffic; use proxy-sidecar for the reverse proxy)")
		notRead("ext_authz_addr", l.ExtAuthzAddr, " (that is waypoint's)")
		unused("reverse_proxy_backend", l.ReverseProxyBackend)
		unused("forward_proxy_addr", l.ForwardProxyAddr)
		unused("transparent_proxy_addr", l.TransparentProxyAddr)
		unused("roles", strings.Join(l.Roles, ","))
		out.ExtProc = set(l.ExtProcAddr, DefaultExtProcAddr)
	case ModeWaypoint:
		notRead("ext_proc_addr", l.ExtProcAddr, " (that is envoy-sidecar's)")
		notRead("reverse_proxy_addr", l.ReverseProxyAddr, "")
		unused("reverse_proxy_backend", l.ReverseProxyBackend)
		unused("transparent_proxy_addr", l.TransparentProxyAddr)
		unused("roles", strings.Join(l.Roles, ","))
		out.ExtAuthz = set(l.ExtAuthzAddr, DefaultExtAuthzAddr)
		out.ForwardProxy = set(l.ForwardProxyAddr, DefaultWaypointForwardAddr)
	default:
		return
	}
	out.SessionAPI = set(l.SessionAPIAddr, DefaultSessionAPIAddr)
	if tb := v.cfg.TLSBridge; tb != nil && tb.Mode == "enabled" {
		// Decrypted bodies may reach the session API: the sidecar keeps it on loopback.
		if _, port, err := net.SplitHostPort(out.SessionAPI); err == nil {
			out.SessionAPI = net.JoinHostPort("127.0.0.1", port)
		}
	}
	out.Stats = set(v.cfg.Stats.Address, DefaultStatsAddr)
	for i, h := range l.SkipHosts {
		checkHostPattern(p, index("listener.skip_hosts", i), h, true)
	}
	out.SkipHosts = slices.Clone(l.SkipHosts)
}

// checkBackend checks the reverse proxy's backend URL.
func checkBackend(p *problems, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		p.add("listener.reverse_proxy_backend", "%q: want http://host:port, where the agent listens", raw)
	}
}

// ports checks every bound address and refuses two listeners on one port, and a backend
// that is one of the sidecar's own ports (requests would loop).
func (v *validation) ports(r *Resolved) {
	l := r.Listeners
	type listener struct{ field, addr string }
	all := []listener{
		{"listener.reverse_proxy_addr", l.ReverseProxy}, {"listener.forward_proxy_addr", l.ForwardProxy},
		{"listener.transparent_proxy_addr", l.TransparentProxy}, {"listener.ext_proc_addr", l.ExtProc},
		{"listener.ext_authz_addr", l.ExtAuthz}, {"listener.session_api_addr", l.SessionAPI},
		{"stats.address", l.Stats}, {"listener.health_addr", l.Health},
	}
	if !r.Session.Enabled {
		all[5].addr = "" // no session store, no session API
		r.Listeners.SessionAPI = ""
	}
	byPort := map[int]string{}
	for _, b := range all {
		if b.addr == "" {
			continue
		}
		port, ok := v.addr(b.field, b.addr)
		if !ok {
			continue
		}
		if other, dup := byPort[port]; dup {
			v.p.add(b.field, "port %d is also %s's", port, other)
			continue
		}
		byPort[port] = b.field
	}
	if l.ReverseProxyBackend == "" {
		return
	}
	u, err := url.Parse(l.ReverseProxyBackend)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(u.Port())
	if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback() || u.Hostname() == "localhost") && byPort[port] != "" {
		v.p.add("listener.reverse_proxy_backend", "port %d is the sidecar's own (%s): requests would loop", port, byPort[port])
	}
}

// addr checks a bind address, host:port with a numeric port.
func (v *validation) addr(field, addr string) (int, bool) {
	_, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		v.p.add(field, "%q: want [host]:port with a port from 1 to 65535", addr)
		return 0, false
	}
	return port, true
}

func (v *validation) session(r *Resolved) {
	s := v.cfg.Session
	r.Session.Enabled = s.Enabled == nil || *s.Enabled
	for _, n := range []struct {
		key   string
		value int
	}{{"max_events", s.MaxEvents}, {"max_sessions", s.MaxSessions}} {
		if n.value < 0 {
			v.p.add("session."+n.key, "%d: must not be negative", n.value)
		}
	}
	if !r.Session.Enabled {
		return
	}
	r.Session.TTL, r.Session.MaxEvents, r.Session.MaxSessions = s.TTL, s.MaxEvents, s.MaxSessions
	if r.Session.TTL == 0 {
		r.Session.TTL = Duration(DefaultSessionTTL)
	}
	if r.Session.MaxEvents == 0 {
		r.Session.MaxEvents = DefaultMaxEvents
	}
	if r.Session.MaxSessions == 0 {
		r.Session.MaxSessions = DefaultMaxSessions
	}
}

// security checks mtls, spiffe, tls_bridge and egressEnforcement.
func (v *validation) security(r *Resolved) {
	c, p := v.cfg, v.p
	if c.MTLS != nil {
		switch c.MTLS.Mode {
		case "":
			r.MTLS = MTLSPermissive
		case MTLSPermissive, MTLSStrict:
			r.MTLS = c.MTLS.Mode
		default:
			p.add("mtls.mode", "unknown value %q; valid values are permissive, strict", c.MTLS.Mode)
		}
		if c.SPIFFE == nil {
			p.add("mtls", "mutual TLS needs the pod's X.509-SVID, and the configuration has no spiffe block")
		}
		for i, id := range c.MTLS.AllowedPeers {
			if _, err := identity.Parse(id); err != nil {
				p.add(index("mtls.allowed_peers", i), "%v", err)
			} else if slices.Contains(c.MTLS.AllowedPeers[:i], id) {
				p.add(index("mtls.allowed_peers", i), "%q given twice", id)
			}
		}
		r.MTLSAllowedPeers = slices.Clone(c.MTLS.AllowedPeers)
		if c.Mode != ModeProxySidecar && c.Mode != "" {
			// Envoy terminates its own TLS; the block is read only by the proxy.
			p.warn("mtls", "%s does not read it: Envoy is configured for TLS on its own", c.Mode)
		}
	}
	if s := c.SPIFFE; s != nil {
		out := &ResolvedSPIFFE{Socket: s.Socket, MirrorFiles: s.MirrorFiles == nil || *s.MirrorFiles, MirrorDir: s.MirrorDir}
		if out.Socket == "" {
			out.Socket = DefaultSPIFFESocket
		}
		if rest, ok := strings.CutPrefix(out.Socket, "unix://"); !ok || !strings.HasPrefix(rest, "/") {
			p.add("spiffe.socket", "%q: want unix:///path/to/the/socket", out.Socket)
		}
		if out.MirrorDir == "" {
			out.MirrorDir = DefaultMirrorDir
		}
		checkAbsPath(p, "spiffe.mirror_dir", out.MirrorDir)
		if !out.MirrorFiles {
			out.MirrorDir = ""
		}
		r.SPIFFE = out
	}
	if tb := c.TLSBridge; tb != nil {
		switch tb.Mode {
		case "", "disabled":
		case "enabled":
			if c.Mode != ModeProxySidecar && c.Mode != "" {
				p.add("tls_bridge.mode", "enabled: only proxy-sidecar has the TLS bridge, not %s", c.Mode)
			}
			out := &ResolvedTLSBridge{CADir: tb.CADir, GenerateCA: tb.GenerateCA, UpstreamCABundle: tb.UpstreamCABundle, PassthroughHosts: slices.Clone(tb.PassthroughHosts), Ports: slices.Clone(tb.Ports)}
			if tb.CADir == "" {
				p.add("tls_bridge.ca_dir", "required with mode enabled: the directory of the CA the bridge signs with")
			} else {
				checkAbsPath(p, "tls_bridge.ca_dir", tb.CADir)
			}
			if tb.GenerateCA {
				p.warn("tls_bridge.generate_ca", "mints a CA of its own when none is mounted: for demos; in a cluster the CA is cert-manager's")
			}
			if len(out.Ports) == 0 {
				out.Ports = slices.Clone(DefaultTLSBridgePorts)
			}
			r.TLSBridge = out
		default:
			p.add("tls_bridge.mode", "unknown value %q; valid values are disabled, enabled", tb.Mode)
		}
		if tb.UpstreamCABundle != "" {
			checkAbsPath(p, "tls_bridge.upstream_ca_bundle", tb.UpstreamCABundle)
		}
		for i, port := range tb.Ports {
			if port < 1 || port > 65535 {
				p.add(index("tls_bridge.ports", i), "%d is not a port from 1 to 65535", port)
			}
		}
		for i, h := range tb.PassthroughHosts {
			// The bridge compares host names exactly.
			if h == "" || strings.ContainsAny(h, "*?[]{}: \t") {
				p.add(index("tls_bridge.passthrough_hosts", i), "%q: want a host name, compared exactly (no pattern, no port)", h)
			}
		}
	}
	switch c.EgressEnforcement {
	case "", "none", "enforce-redirect":
		r.EgressEnforcement = c.EgressEnforcement
	default:
		p.add("egressEnforcement", "unknown value %q; valid values are none, enforce-redirect", c.EgressEnforcement)
	}
}

// stage checks one direction's entries and resolves the plugins that run.
func (v *validation) stage(field string, s Stage) ResolvedStage {
	out := ResolvedStage{Plugins: []Plugin{}}
	direction := strings.TrimPrefix(field, "pipeline.")
	for i := range s.Plugins {
		e := &s.Plugins[i]
		f := index(field+".plugins", i)
		if e.Name == "" {
			v.p.add(join(f, "name"), "required")
			continue
		}
		onError := e.OnError
		if onError == "" {
			onError = OnErrorEnforce
		}
		if onError == OnErrorOff {
			// Left out before the name is looked up, as in the sidecar: a list may name
			// plugins another image has.
			out.Off = append(out.Off, OffEntry{Index: i, Name: e.Name})
			continue
		}
		newConfig, ok := plugins[e.Name]
		if !ok {
			v.p.add(join(f, "name"), "unknown plugin %q; this data plane has %s (an entry with on_error: off is left out unread)", e.Name, strings.Join(Plugins(), ", "))
			continue
		}
		if onError == OnErrorObserve {
			switch e.Name {
			case PluginJWTValidation, PluginTokenExchange:
				// An authentication gate that only records its denials lets
				// unauthenticated requests through, or sends tokens unexchanged.
				v.p.add(join(f, "on_error"), "observe on %s would let what it denies through; leave it enforce, or off to remove it", e.Name)
			default:
				v.p.warn(join(f, "on_error"), "observe: %s's denials are recorded, not enforced", e.Name)
			}
		}
		plugin := Plugin{Name: e.Name, ID: e.ID, OnError: onError, Field: f}
		switch {
		case newConfig == nil && e.HasConfig():
			v.p.add(join(f, "config"), "%s takes no config", e.Name)
		case newConfig != nil:
			cfg := newConfig()
			before := len(v.p.errs)
			if e.HasConfig() {
				v.d.mapping(e.config, join(f, "config"), reflect.ValueOf(cfg).Elem(), 0)
			}
			if len(v.p.errs) == before {
				cfg.check(v, join(f, "config"))
			}
			plugin.Config = cfg
		}
		out.Plugins = append(out.Plugins, plugin)
	}
	if len(out.Plugins) == 0 {
		what := map[string]string{"inbound": "inbound requests reach the agent without authentication", "outbound": "the agent's requests leave without token exchange or policy"}[direction]
		v.p.warn(field+".plugins", "no plugin runs: %s", what)
	}
	return out
}

// oneOPA refuses opa entries that disagree on what the sidecar's single OPA fetches:
// it starts one for both directions, from the first entry's config.
func (v *validation) oneOPA() {
	if len(v.opas) < 2 {
		return
	}
	first := v.opas[0]
	for _, o := range v.opas[1:] {
		a, b := first.c, o.c
		for _, f := range []struct {
			key  string
			x, y string
		}{
			{"bundle_url", a.BundleURL, b.BundleURL}, {"bundle_server_id", a.BundleServerID, b.BundleServerID},
			{"upstream_bundle_service", fmt.Sprint(a.UpstreamBundleService), fmt.Sprint(b.UpstreamBundleService)},
			{"agent_id", a.AgentID, b.AgentID}, {"agent_id_file", a.AgentIDFile, b.AgentIDFile},
			{"polling_min_delay", fmt.Sprint(a.PollingMinDelay), fmt.Sprint(b.PollingMinDelay)},
			{"polling_max_delay", fmt.Sprint(a.PollingMaxDelay), fmt.Sprint(b.PollingMaxDelay)},
		} {
			if f.x != f.y {
				v.p.add(join(o.field, f.key), "%q differs from %s's %q: the sidecar runs one OPA for all its opa entries, configured by the first", f.y, first.field, f.x)
			}
		}
	}
}
