package sidecarconfig

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Route sends the outbound requests to matching hosts through a token exchange (or past
// it): an entry of routes.yaml.
type Route struct {
	// Host is a `.`-separated glob matched against the destination host without port.
	Host           string `yaml:"host" json:"host"`
	TargetAudience string `yaml:"target_audience" json:"target_audience,omitempty"`
	TokenScopes    string `yaml:"token_scopes" json:"token_scopes,omitempty"`
	TokenURL       string `yaml:"token_url" json:"token_url,omitempty"`
	// Action is exchange (the default) or passthrough.
	Action string `yaml:"action" json:"action"`
}

// Route actions.
const (
	ActionExchange    = "exchange"
	ActionPassthrough = "passthrough"
)

// LoadRoutes parses and checks a routes.yaml: a top-level list of routes, as the sidecar
// reads it. An empty document has no routes. The returned routes have their defaults.
func LoadRoutes(data []byte) ([]Route, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	root, err := parse(data)
	if err != nil {
		return nil, &FieldError{Err: err}
	}
	if root == nil {
		return nil, nil
	}
	p := &problems{}
	if root.Kind == yaml.MappingNode {
		if len(root.Content) >= 2 && root.Content[0].Value == "routes" {
			p.add("routes", "routes.yaml is a top-level list of routes, not a mapping with a routes key: remove the `routes:` line and unindent its entries (the sidecar cannot read this file)")
		} else {
			p.add("", "routes.yaml is a top-level list of routes ({host, target_audience, token_scopes, token_url, action}), not a mapping")
		}
		return nil, p.err()
	}
	d := &decoder{p: p}
	var routes []routeEntry
	d.decode(root, "", reflect.ValueOf(&routes).Elem(), 0)
	out := make([]Route, 0, len(routes))
	for i, r := range routes {
		field := index("", i)
		if r.bad {
			continue
		}
		out = append(out, checkRoute(p, field, r.Route, false))
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// routeEntry is a route of routes.yaml; it refuses passthrough, which only inline rules
// read.
type routeEntry struct {
	Route
	bad bool // not a mapping, reported already
}

func (r *routeEntry) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.p.add(path, "want a route {host, target_audience, token_scopes, token_url, action}, not %s", kindName(n))
		r.bad = true
		return
	}
	byKey, keys := fields(reflect.TypeFor[Route]())
	v := reflect.ValueOf(&r.Route).Elem()
	d.eachKey(n, path, 1, keys, func(key string, value *yaml.Node) bool {
		if key == "passthrough" {
			d.p.add(join(path, key), "the sidecar ignores passthrough in routes.yaml (only token-exchange's inline routes.rules read it): write action: passthrough")
			return true
		}
		i, ok := byKey[key]
		if ok {
			d.decode(value, join(path, key), v.Field(i), 2)
		}
		return ok
	})
}

// checkRoute checks a route and fills its default action; passthrough is the legacy flag
// of token-exchange's inline rules.
func checkRoute(p *problems, field string, r Route, passthrough bool) Route {
	if r.Host == "" {
		p.add(join(field, "host"), "required")
	} else {
		checkHostPattern(p, join(field, "host"), r.Host, false)
	}
	switch r.Action {
	case "":
		r.Action = ActionExchange
		if passthrough {
			r.Action = ActionPassthrough
		}
	case ActionExchange, ActionPassthrough:
	default:
		p.add(join(field, "action"), "unknown value %q; valid values are exchange, passthrough", r.Action)
	}
	if r.TokenURL != "" {
		checkURL(p, join(field, "token_url"), r.TokenURL)
	}
	if r.Action == ActionPassthrough && (r.TargetAudience != "" || r.TokenScopes != "" || r.TokenURL != "") {
		p.add(field, "a passthrough route exchanges no token: target_audience, token_scopes and token_url would be ignored")
	}
	return r
}

// checkHostPattern checks a host glob. Skip patterns must not match every host; route
// patterns may (a route for every host is a policy, not a bypass).
func checkHostPattern(p *problems, field, pattern string, skip bool) {
	switch {
	case strings.TrimSpace(pattern) == "":
		p.add(field, "empty pattern")
		return
	case strings.TrimSpace(pattern) != pattern:
		p.add(field, "%q has surrounding spaces, so it matches no host", pattern)
		return
	case strings.Contains(pattern, ":"):
		p.add(field, "%q has a port; the port is stripped from the host before matching, so it matches no host", pattern)
		return
	}
	if _, err := CompileHostPattern(pattern); err != nil {
		p.add(field, "%v", err)
		return
	}
	if !skip {
		return
	}
	all, err := matchesAll(pattern)
	switch {
	case err != nil:
		p.add(field, "%q: %v", pattern, err)
	case all != "":
		p.add(field, "%q matches %s, so the outbound pipeline would run for none of it; name the hosts to skip, or remove the plugins you mean to switch off", pattern, all)
	}
}

// CheckRouteHost checks a route's host glob as LoadRoutes does.
func CheckRouteHost(pattern string) error {
	p := &problems{}
	checkHostPattern(p, "", pattern, false)
	return p.err()
}
