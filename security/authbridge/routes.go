package authbridge

import (
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// HasOwnRoutes says the agent's sidecar reads its own routes (ConfigMap
// authbridge-routes-<workload>, written from spec.auth.outbound) instead of the
// namespace's authproxy-routes: the webhook mounts that one where the other would be.
func HasOwnRoutes(rt *agentv1.AgentRuntime) bool {
	return rt.Spec.Auth != nil && len(rt.Spec.Auth.Outbound) > 0
}

// routeEntry is a route of routes.yaml as trustsync writes it: upstream's flat form.
type routeEntry struct {
	Host           string `json:"host"`
	TargetAudience string `json:"target_audience,omitempty"`
	TokenScopes    string `json:"token_scopes,omitempty"`
	TokenURL       string `json:"token_url,omitempty"`
	Action         string `json:"action,omitempty"`
}

// AgentRoutes renders an agent's own routes.yaml: a top-level list of {host,
// target_audience}, one per spec.auth.outbound entry in order, then the namespace's routes
// (its authproxy-routes), which the agent's would otherwise hide: the sidecar reads one
// routes file, and the first match wins. A hostRegex is written as the glob with the same
// meaning. Every problem is a *SettingError naming its field.
func AgentRoutes(outbound []agentv1.OutboundRoute, namespace []sidecarconfig.Route) ([]byte, error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, &SettingError{Field: field, Err: err}) }
	out := make([]routeEntry, 0, len(outbound)+len(namespace))
	for i, r := range outbound {
		field := fmt.Sprintf("spec.auth.outbound[%d]", i)
		d := r.Destination
		var host string
		switch {
		case (d.Host == "") == (d.HostRegex == ""):
			fail(field+".destination", errors.New("a destination has exactly one of host and hostRegex"))
			continue
		case d.Host != "":
			if err := sidecarconfig.CheckRouteHost(d.Host); err != nil {
				fail(field+".destination.host", err)
				continue
			}
			host = d.Host
		default:
			glob, err := sidecarconfig.HostGlobOfRegex(d.HostRegex)
			if err != nil {
				fail(field+".destination.hostRegex", fmt.Errorf("`%s`: %v. The sidecar's routes match hosts by glob, not by regex (upstream's operator copies the regex into routes.yaml, where it matches nothing it should: rossoctl/operator#520); write destination.host as a glob (`*` within a label, `**` across labels) instead", d.HostRegex, err))
				continue
			}
			host = glob
		}
		switch len(r.Audiences) {
		case 0:
			fail(field+".audiences", errors.New("required: the audience to ask the token endpoint for"))
			continue
		case 1:
			if r.Audiences[0] == "" {
				fail(field+".audiences[0]", errors.New("empty: the audience to ask the token endpoint for"))
				continue
			}
		default:
			// Upstream takes the first and drops the rest (rossoctl/operator#518).
			fail(field+".audiences", fmt.Errorf("%d audiences, and a route of the sidecar asks for one (target_audience): keep one, or give each audience a destination of its own", len(r.Audiences)))
			continue
		}
		out = append(out, routeEntry{Host: host, TargetAudience: r.Audiences[0]})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, r := range namespace {
		out = append(out, routeEntry(r))
	}
	return yaml.Marshal(out)
}
