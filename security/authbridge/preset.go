package authbridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// PresetChoice is one plugin of a preset pipeline with its policy and the AgentRuntime
// field that decided it.
type PresetChoice struct {
	Name    string
	Inbound bool
	Policy  agentv1.PluginPolicy
	// Field is spec.pluginPreset (membership), spec.onError (a member's default) or
	// spec.plugins[i] (an override).
	Field string
}

// Preset plugins this data plane lacks, with what to write instead.
var lacking = map[string]string{
	"ibac":         "add \"ibac:off\" to spec.plugins to run the rest; what an agent may call is decided by AuthorizationPolicies (the opa plugin) under trustsync",
	"token-broker": "use token-exchange (routes from spec.auth.outbound or the namespace's authproxy-routes), or write \"token-broker:off\"",
}

// ResolvePreset resolves the policy of every preset plugin of an AgentRuntime, in the
// pipeline's fixed order (inbound, then outbound); nil without spec.pluginPreset. As
// upstream: members get spec.onError (enforce when unset), the others off, and
// spec.plugins overrides both. Unlike upstream it refuses a token twice for one plugin
// (upstream takes the last), and ibac and token-broker unless off: this data plane has
// neither, and dropping them would run the agent with less than it asks for. Every
// problem is a *SettingError naming its field.
func ResolvePreset(spec *agentv1.AgentRuntimeSpec) ([]PresetChoice, error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &SettingError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	if spec.PluginPreset == "" {
		// The CRD refuses these too; an AgentRuntime decoded without it is held to the same.
		if len(spec.Plugins) > 0 {
			fail("spec.plugins", "takes effect only with spec.pluginPreset (upstream ignores it without one): set pluginPreset, or remove it")
		}
		if spec.OnError != "" {
			fail("spec.onError", "takes effect only with spec.pluginPreset (upstream ignores it without one): set pluginPreset, or remove it")
		}
		return nil, errors.Join(errs...)
	}
	members, ok := presetMembers[spec.PluginPreset]
	if !ok {
		return nil, &SettingError{Field: "spec.pluginPreset", Err: unknown(string(spec.PluginPreset), agentv1.PluginPresets)}
	}
	memberPolicy, memberField := agentv1.PluginPolicyEnforce, "spec.pluginPreset"
	if spec.OnError != "" {
		if !slices.Contains(agentv1.PluginPolicies, spec.OnError) {
			fail("spec.onError", "%v", unknown(string(spec.OnError), agentv1.PluginPolicies))
		} else {
			memberPolicy, memberField = spec.OnError, "spec.onError"
		}
	}
	var choices []PresetChoice
	for _, stage := range []struct {
		names   []string
		inbound bool
	}{{agentv1.PresetInboundPlugins, true}, {agentv1.PresetOutboundPlugins, false}} {
		for _, name := range stage.names {
			c := PresetChoice{Name: name, Inbound: stage.inbound, Policy: agentv1.PluginPolicyOff, Field: "spec.pluginPreset"}
			if slices.Contains(members, name) {
				c.Policy, c.Field = memberPolicy, memberField
			}
			choices = append(choices, c)
		}
	}
	given := map[string]int{}
	for i, tok := range spec.Plugins {
		field := fmt.Sprintf("spec.plugins[%d]", i)
		name, policy, hasPolicy := strings.Cut(tok, ":")
		j := slices.IndexFunc(choices, func(c PresetChoice) bool { return c.Name == name })
		switch {
		case j < 0:
			fail(field, "%q: unknown plugin %q; the preset plugins are %s", tok, name, strings.Join(append(slices.Clone(agentv1.PresetInboundPlugins), agentv1.PresetOutboundPlugins...), ", "))
			continue
		case hasPolicy && !slices.Contains(agentv1.PluginPolicies, agentv1.PluginPolicy(policy)):
			fail(field, "%q: unknown policy %q; valid values are enforce, observe, off", tok, policy)
			continue
		}
		if k, dup := given[name]; dup {
			fail(field, "%q: %s is given already by spec.plugins[%d]; keep one", tok, name, k)
			continue
		}
		given[name] = i
		if !hasPolicy {
			policy = string(agentv1.PluginPolicyEnforce)
		}
		choices[j].Policy, choices[j].Field = agentv1.PluginPolicy(policy), field
	}
	on := func(name string) *PresetChoice {
		c := &choices[slices.IndexFunc(choices, func(c PresetChoice) bool { return c.Name == name })]
		if c.Policy == agentv1.PluginPolicyOff {
			return nil
		}
		return c
	}
	if te, tb := on(sidecarconfig.PluginTokenExchange), on("token-broker"); te != nil && tb != nil {
		fail(tb.Field, "token-broker and token-exchange (%s) both claim the Authorization header of outbound requests, so they are mutually exclusive: turn one off", te.Field)
	}
	for _, name := range []string{"ibac", "token-broker"} {
		if c := on(name); c != nil {
			what := fmt.Sprintf("preset %s runs %s", spec.PluginPreset, name)
			if strings.HasPrefix(c.Field, "spec.plugins[") {
				what = fmt.Sprintf("%q runs %s", spec.Plugins[given[name]], name)
			}
			fail(c.Field, "%s (%s), and trustsync's AuthBridge data plane has no %s plugin (it has %s), so the sidecar would refuse to start: %s", what, c.Policy, name, strings.Join(sidecarconfig.Plugins(), ", "), lacking[name])
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return choices, nil
}

// presetMembers are the plugins each preset runs (upstream's presets).
var presetMembers = map[agentv1.PluginPreset][]string{
	agentv1.PluginPresetAuthOnly: {"jwt-validation", "token-exchange"},
	agentv1.PluginPresetIBACOnly: {"a2a-parser", "inference-parser", "mcp-parser", "ibac"},
	agentv1.PluginPresetFull:     {"a2a-parser", "jwt-validation", "token-exchange", "inference-parser", "mcp-parser", "ibac"},
}

// EntrySource says where an entry of a per-agent pipeline trustsync composed came from,
// so a problem the sidecar finds with it is reported at its source.
type EntrySource struct {
	// Plugin is the entry's plugin.
	Plugin string
	// Field of the AgentRuntime that decided the entry's policy; empty for an entry kept
	// from the namespace's pipeline.
	Field string
	// Base is the entry of the namespace's pipeline its config (or, for a kept entry,
	// all of it) comes from, e.g. pipeline.outbound.plugins[0]; empty when none.
	Base string
	// Synthesized says its config was synthesized from the namespace's authbridge-config
	// values, the namespace's pipeline having no entry of the plugin.
	Synthesized bool
}

// presetPipeline composes the pipeline of a preset. Every preset plugin is listed in the
// fixed order, as upstream renders it: a plugin that runs has its config from the first
// entry of the base pipeline that configures it (else, for the two token plugins, from
// the pipeline synthesized from env), one that is off has no config (the sidecar does
// not read it). Unlike upstream, the base's entries of other plugins (opa) are kept,
// after the preset's in their direction: a preset must not let an agent drop its
// namespace's policy plugin. It returns the pipeline and where each entry came from,
// by field.
func presetPipeline(base map[string]any, env map[string]string, choices []PresetChoice) (map[string]any, map[string]EntrySource) {
	type baseEntry struct {
		field string
		entry map[string]any // a bare name is {name: ...}
	}
	var byDirection [2][]baseEntry // inbound, outbound
	for d, direction := range []string{"inbound", "outbound"} {
		stage, _ := base[direction].(map[string]any)
		list, _ := stage["plugins"].([]any)
		for i, p := range list {
			e, _ := p.(map[string]any)
			if name, ok := p.(string); ok {
				e = map[string]any{"name": name}
			}
			if e != nil {
				byDirection[d] = append(byDirection[d], baseEntry{fmt.Sprintf("pipeline.%s.plugins[%d]", direction, i), e})
			}
		}
	}
	synthesized := synthesizePipeline(env)
	configOf := func(name string) (map[string]any, EntrySource) {
		for _, list := range byDirection {
			for _, b := range list {
				if cfg, ok := b.entry["config"].(map[string]any); ok && b.entry["name"] == name && len(cfg) > 0 {
					return runtime.DeepCopyJSON(cfg), EntrySource{Base: b.field}
				}
			}
		}
		for _, direction := range []string{"inbound", "outbound"} {
			for _, p := range synthesized[direction].(map[string]any)["plugins"].([]any) {
				if e := p.(map[string]any); e["name"] == name {
					return runtime.DeepCopyJSON(e["config"].(map[string]any)), EntrySource{Synthesized: true}
				}
			}
		}
		return nil, EntrySource{}
	}
	presetNames := append(slices.Clone(agentv1.PresetInboundPlugins), agentv1.PresetOutboundPlugins...)
	out := map[string]any{}
	sources := map[string]EntrySource{}
	for d, direction := range []string{"inbound", "outbound"} {
		var list []any
		add := func(e map[string]any, src EntrySource) {
			sources[fmt.Sprintf("pipeline.%s.plugins[%d]", direction, len(list))] = src
			list = append(list, e)
		}
		for _, c := range choices {
			if c.Inbound != (d == 0) {
				continue
			}
			e := map[string]any{"name": c.Name}
			src := EntrySource{Plugin: c.Name, Field: c.Field}
			if c.Policy == agentv1.PluginPolicyOff {
				e["on_error"] = string(agentv1.PluginPolicyOff)
			} else {
				// enforce is the sidecar's default: left out, as upstream does.
				if c.Policy != agentv1.PluginPolicyEnforce {
					e["on_error"] = string(c.Policy)
				}
				if cfg, from := configOf(c.Name); cfg != nil {
					e["config"] = cfg
					src.Base, src.Synthesized = from.Base, from.Synthesized
				}
			}
			add(e, src)
		}
		for _, b := range byDirection[d] {
			if name, _ := b.entry["name"].(string); !slices.Contains(presetNames, name) {
				add(runtime.DeepCopyJSON(b.entry), EntrySource{Plugin: name, Base: b.field})
			}
		}
		out[direction] = map[string]any{"plugins": list}
	}
	return out, sources
}
