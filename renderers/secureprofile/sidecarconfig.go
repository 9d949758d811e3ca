package secureprofile

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// checkSidecarConfigs reads what the sidecars will read with the sidecar's own loader,
// so a configuration the sidecar would refuse at start never reaches a pod: every
// authbridge-config-<workload> config.yaml and authbridge-routes-<workload> routes.yaml
// this expansion generated, and every authproxy-routes ConfigMap of the repository. A problem is reported at the object it
// comes from: the namespace's authbridge-runtime-config (the base of every agent's
// config), its authbridge-config (when the pipeline is synthesized from it), or the
// AgentRuntime.
func (e *expansion) checkSidecarConfigs() {
	for _, a := range e.agents {
		if a.target == nil {
			continue
		}
		name := agentv1.ConfigMapAgentConfigPrefix + a.target.obj.GetName()
		cm := e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: a.rt.Namespace, Name: name})
		if cm == nil || cm.Source != "" || cm.GetLabels()[LabelAgentRuntime] != a.rt.Name {
			continue // not injected, or not this agent's (a collision, reported as such)
		}
		data, _, _ := unstructured.NestedString(cm.Object, "data", agentv1.KeyConfigYAML)
		e.checkAgentConfig(a, e.namespaces[a.rt.Namespace], name, []byte(data))
		routes := agentv1.ConfigMapAgentRoutesPrefix + a.target.obj.GetName()
		if cm := e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: a.rt.Namespace, Name: routes}); cm != nil && cm.Source == "" && cm.GetLabels()[LabelAgentRuntime] == a.rt.Name {
			data, _, _ := unstructured.NestedString(cm.Object, "data", agentv1.KeyRoutesYAML)
			if _, err := sidecarconfig.LoadRoutes([]byte(data)); err != nil {
				// Built from checked routes, so a bug of trustsync's if it happens.
				e.fail(manifest.Errorf(a.obj, "spec.auth.outbound", "trustsync would generate ConfigMap %s/%s for AgentRuntime %s, whose routes.yaml the AuthBridge sidecar refuses: %v", a.rt.Namespace, routes, a.rt.Name, err))
			}
		}
	}
	for _, o := range e.objs {
		if o.Source != "" && o.GetKind() == "ConfigMap" && o.GroupVersionKind().Group == "" && o.GetName() == agentv1.ConfigMapAuthProxyRoutes {
			e.checkRoutes(o)
		}
	}
}

func (e *expansion) checkAgentConfig(a *agent, ns *namespaceState, name string, data []byte) {
	key, passed := e.loaded(data, modeOf(a))
	if passed {
		return
	}
	failed := len(e.errs)
	defer func() {
		if e.memo != nil && len(e.errs) == failed {
			e.memo.loads.Put(key, struct{}{})
		}
	}()
	var problems []error
	cfg, err := sidecarconfig.Load(data, nil)
	if err == nil {
		// A proxy sidecar expands its environment, which holds only what the webhook
		// sets: any other reference would stay the literal ${VAR}. An Envoy sidecar's
		// ext_proc gets the namespace's authbridge-config values as variables, so its
		// references are meant.
		if m := modeOf(a); len(cfg.Variables) > 0 && m != agentv1.AuthBridgeEnvoySidecar && m != agentv1.AuthBridgeWaypoint {
			set := authbridge.ProxyEnvNames()
			for _, v := range cfg.Variables {
				if slices.Contains(set, v.Name) {
					continue
				}
				problems = append(problems, &sidecarconfig.FieldError{Field: v.Field,
					Err: fmt.Errorf("$%s: the sidecar's environment has no such variable (it has %s), so it would stay the literal ${%s}; write the value itself", v.Name, strings.Join(set, ", "), v.Name)})
			}
		}
		var r *sidecarconfig.Resolved
		if r, err = cfg.Validate(); err == nil && modeOf(a) == agentv1.AuthBridgeLite {
			// The lite image would refuse to start on a plugin it lacks.
			err = r.CheckLite()
		}
	}
	problems = append(problems, manifest.Errors(err)...)
	for _, p := range problems {
		var fe *sidecarconfig.FieldError
		if !errors.As(p, &fe) {
			fe = &sidecarconfig.FieldError{Err: p}
		}
		e.fail(e.sidecarProblem(a, ns, name, fe))
	}
}

// trustsyncWrites are the fields of a per-agent config.yaml trustsync sets itself (from
// the agent's settings, its port plan and the platform) rather than copies from the
// namespace's authbridge-runtime-config.
var trustsyncWrites = []string{"mode", "egressEnforcement", "mtls", "tls_bridge", "spiffe"}

var trustsyncWritesProxy = []string{"listener.reverse_proxy_addr", "listener.reverse_proxy_backend", "listener.forward_proxy_addr"}

// sidecarProblem locates a problem of an agent's generated config.yaml.
func (e *expansion) sidecarProblem(a *agent, ns *namespaceState, name string, fe *sidecarconfig.FieldError) error {
	under := func(prefixes []string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool {
			return fe.Field == p || strings.HasPrefix(fe.Field, p+".") || strings.HasPrefix(fe.Field, p+"[")
		})
	}
	generated := func(o *manifest.Object, field string) error {
		return manifest.Errorf(o, field, "trustsync would generate ConfigMap %s/%s for AgentRuntime %s, whose config.yaml the AuthBridge sidecar refuses: %v", a.rt.Namespace, name, a.rt.Name, fe)
	}
	// Without the repository's own pipeline, trustsync synthesizes it from the
	// namespace's authbridge-config values (the repository's, else the platform's).
	_, repoPipeline := ns.runtime["pipeline"]
	repoPipeline = repoPipeline && ns.runtimeCM != nil
	pipeline := under([]string{"pipeline"})
	entry, src, rest := presetEntry(a, fe.Field)
	switch {
	case pipeline && strings.Contains(fe.Field, ".config.allowed_audiences") && len(allowedAudiences(a.rt)) > 0:
		return manifest.Errorf(a.obj, "spec.identity.allowedAudiences", "%v (%s of the sidecar's config.yaml)", fe.Err, fe.Field)
	case entry != "" && (src.Field == "" || strings.HasPrefix(rest, ".config")) && src.Base != "" && repoPipeline:
		// A plugin's config, or an entry kept, from the repository's pipeline.
		return manifest.Errorf(ns.runtimeCM, "data."+agentv1.KeyConfigYAML+": "+src.Base+rest, "%v (used by AgentRuntime %s, whose spec.pluginPreset composes %s)", fe.Err, a.rt.Name, entry)
	case entry != "" && strings.HasPrefix(rest, ".config") && ns.envCM != nil:
		return generated(ns.envCM, "data")
	case entry != "" && src.Field != "" && !strings.HasPrefix(rest, ".config"):
		// The entry's policy, which the AgentRuntime chose.
		return manifest.Errorf(a.obj, src.Field, "%v (%s of the config.yaml trustsync would generate in ConfigMap %s/%s; in spec.plugins, %q leaves %s out)", fe.Err, fe.Field, a.rt.Namespace, name, src.Plugin+":off", src.Plugin)
	case entry != "":
		return generated(a.obj, "")
	case under(trustsyncWrites) || (under(trustsyncWritesProxy) && modeOf(a) != agentv1.AuthBridgeEnvoySidecar):
		return generated(a.obj, "")
	case pipeline && !repoPipeline && ns.envCM != nil:
		return generated(ns.envCM, "data")
	case pipeline && !repoPipeline:
		return generated(a.obj, "")
	case ns.runtimeCM != nil:
		field := "data." + agentv1.KeyConfigYAML
		if fe.Field != "" {
			field += ": " + fe.Field
		}
		return manifest.Errorf(ns.runtimeCM, field, "%v (used by AgentRuntime %s)", fe.Err, a.rt.Name)
	default:
		return generated(a.obj, "")
	}
}

// presetEntry finds the entry of the agent's preset pipeline a field is in: the entry's
// field, where it came from, and the rest of the field after the entry's; "" when the
// field is in none.
func presetEntry(a *agent, field string) (string, authbridge.EntrySource, string) {
	for entry, src := range a.entries {
		if rest, ok := strings.CutPrefix(field, entry); ok && (rest == "" || rest[0] == '.') {
			return entry, src, rest
		}
	}
	return "", authbridge.EntrySource{}, ""
}

// modeOf is the mode the agent's settings resolved to, as written into the AgentRuntime.
func modeOf(a *agent) agentv1.AuthBridgeMode {
	m, _, _ := unstructured.NestedString(a.rtObj.Object, "spec", "authBridgeMode")
	return agentv1.AuthBridgeMode(m)
}

// checkRoutes reads a repository's authproxy-routes as the token-exchange plugin does.
func (e *expansion) checkRoutes(o *manifest.Object) {
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	field := "data." + agentv1.KeyRoutesYAML
	routes, ok := data[agentv1.KeyRoutesYAML]
	if !ok {
		e.fail(manifest.Errorf(o, field, "required: the sidecar reads its routes from this key (without it, it has none)"))
	}
	for key := range data {
		if key != agentv1.KeyRoutesYAML {
			e.fail(manifest.Errorf(o, "data."+key, "the sidecar reads only %s of this ConfigMap", agentv1.KeyRoutesYAML))
		}
	}
	if _, found, _ := unstructured.NestedMap(o.Object, "binaryData"); found {
		e.fail(manifest.Errorf(o, "binaryData", "the sidecar reads only data.%s of this ConfigMap", agentv1.KeyRoutesYAML))
	}
	if !ok {
		return
	}
	_, err := sidecarconfig.LoadRoutes([]byte(routes))
	for _, p := range manifest.Errors(err) {
		f := field
		var fe *sidecarconfig.FieldError
		if errors.As(p, &fe) {
			if fe.Field != "" {
				f += ": " + fe.Field
			}
			p = fe.Err
		}
		e.fail(manifest.Errorf(o, f, "%v", p))
	}
}
