package webhook_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/security/policy"
)

// TestValidateAgentRuntime: what the schema cannot know — the namespace defaults, the
// live gates and the other AgentRuntimes — is checked by the webhook.
func TestValidateAgentRuntime(t *testing.T) {
	ctx := context.Background()
	setGates(t, "")
	createNamespace(t, "validate-rt")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "validate-rt", Name: agentv1.ConfigMapAuthBridgeRuntimeConfig},
		Data: map[string]string{agentv1.KeyConfigYAML: "mode: envoy-sidecar\n"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitCached(t, cm, cm.ResourceVersion)
	createRuntime(t, "validate-rt", "planner", agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeProxySidecar})

	route := func(host, regex string, audiences ...string) agentv1.OutboundRoute {
		return agentv1.OutboundRoute{Destination: agentv1.RouteDestination{Host: host, HostRegex: regex}, Audiences: audiences}
	}
	runtime := func(name, target string, spec agentv1.AgentRuntimeSpec) *agentv1.AgentRuntime {
		spec.Type = agentv1.AgentTypeAgent
		spec.TargetRef = agentv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: target}
		return &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: "validate-rt", Name: name}, Spec: spec}
	}
	for _, c := range []struct {
		name   string
		rt     *agentv1.AgentRuntime
		denied string
	}{
		{name: "second runtime for a workload", rt: runtime("planner-2", "planner", agentv1.AgentRuntimeSpec{}),
			denied: "spec.targetRef: Deployment planner is already configured by AgentRuntime planner"},
		{name: "tls bridge with the namespace's envoy default", rt: runtime("fetcher", "fetcher", agentv1.AgentRuntimeSpec{TLSBridgeMode: agentv1.TLSBridgeEnabled}),
			denied: "spec.tlsBridgeMode: enabled needs authBridgeMode proxy-sidecar or lite, not envoy-sidecar"},
		{name: "valid", rt: runtime("weather", "weather", agentv1.AgentRuntimeSpec{AuthBridgeMode: agentv1.AuthBridgeLite, TLSBridgeMode: agentv1.TLSBridgeEnabled})},
		// The newer fields: the CRD's rules, then what only the webhook knows.
		{name: "a preset with its routes", rt: runtime("preset", "preset", agentv1.AgentRuntimeSpec{
			PluginPreset: agentv1.PluginPresetFull, Plugins: []string{"ibac:off", "mcp-parser:observe"}, OnError: agentv1.PluginPolicyEnforce,
			Auth: &agentv1.AgentAuth{Outbound: []agentv1.OutboundRoute{route("", `.*\.team1\.svc`, "spiffe://localtest.me/ns/team1/sa/tool")}},
		})},
		{name: "plugins without a preset", rt: runtime("nopreset", "nopreset", agentv1.AgentRuntimeSpec{Plugins: []string{"ibac:off"}}),
			denied: "plugins and onError take effect only with a pluginPreset"},
		{name: "a plugin token of no plugin", rt: runtime("badtoken", "badtoken", agentv1.AgentRuntimeSpec{PluginPreset: agentv1.PluginPresetAuthOnly, Plugins: []string{"opa:off"}}),
			denied: "spec.plugins[0]: Invalid value"},
		{name: "a destination with host and hostRegex", rt: runtime("both", "both", agentv1.AgentRuntimeSpec{
			Auth: &agentv1.AgentAuth{Outbound: []agentv1.OutboundRoute{route("a", "a", "aud")}}}),
			denied: "a destination has exactly one of host and hostRegex"},
		{name: "a route without audiences", rt: runtime("noaud", "noaud", agentv1.AgentRuntimeSpec{
			Auth: &agentv1.AgentAuth{Outbound: []agentv1.OutboundRoute{route("a", "")}}}),
			denied: "spec.auth.outbound[0].audiences"},
		{name: "ibac from the preset", rt: runtime("ibac", "ibac", agentv1.AgentRuntimeSpec{PluginPreset: agentv1.PluginPresetIBACOnly}),
			denied: "AgentRuntime validate-rt/ibac: spec.pluginPreset: preset ibac-only runs ibac (enforce), and trustsync's AuthBridge data plane has no ibac plugin"},
		{name: "a hostRegex without a glob", rt: runtime("regex", "regex", agentv1.AgentRuntimeSpec{
			Auth: &agentv1.AgentAuth{Outbound: []agentv1.OutboundRoute{route("", `[a-z]+\.svc`, "aud")}}}),
			denied: "spec.auth.outbound[0].destination.hostRegex"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := env.Client.Create(ctx, c.rt)
			switch {
			case c.denied == "" && err != nil:
				t.Fatalf("want it admitted: %v", err)
			case c.denied != "" && (err == nil || !strings.Contains(err.Error(), c.denied)):
				t.Fatalf("got %v, want a denial containing %q", err, c.denied)
			}
		})
	}

	// Updating the one AgentRuntime of a workload is not a second one.
	var live agentv1.AgentRuntime
	if err := env.Client.Get(ctx, objectKey("validate-rt", "planner"), &live); err != nil {
		t.Fatal(err)
	}
	live.Spec.EgressEnforcement = agentv1.EgressNone
	if err := env.Client.Update(ctx, &live); err != nil {
		t.Fatalf("updating the AgentRuntime: %v", err)
	}
}

// TestValidateAuthorizationPolicy: every Rego file compiles, within the Platform's
// bounds and capabilities, and the error names the file and the line; global policies
// only in the platform namespace.
func TestValidateAuthorizationPolicy(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "validate-ap")
	file := func(path, content string) agentv1.RegoPolicy {
		return agentv1.RegoPolicy{Path: path, Content: content}
	}
	good := "package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if input.identity.client_id != \"\"\n"
	for _, c := range []struct {
		name, namespace string
		spec            agentv1.AuthorizationPolicySpec
		denied          []string
	}{
		{name: "weather", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{file(policy.Points[0].File(), strings.Replace(good, "authbridge.client.inbound.request", policy.Package(agentv1.ScopeClient, policy.Points[0]), 1))}}},
		{name: "broken", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{
			file("inbound/request.rego", "package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if {\n  input.identity.client_id ==\n}\n"),
		}}, denied: []string{"AuthorizationPolicy validate-ap/broken", "spec.policies[0].content", "inbound/request.rego:7"}},
		// The same bounds and capabilities as render: size before parsing, then rules.
		{name: "oversized", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{
			file("inbound/request.rego", good+"# "+strings.Repeat("x", 300<<10)+"\n"),
		}}, denied: []string{"AuthorizationPolicy validate-ap/oversized", "spec.policies", "over the bound 256Ki (Platform limits.policySize)"}},
		{name: "too-many-rules", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{
			file("inbound/request.rego", good+strings.Repeat("allow if input.a == 1\n", 2000)),
		}}, denied: []string{"spec.policies[0].content", "the policy has 2001 rules", "over the bound 2000 (Platform limits.policyRules)"}},
		{name: "http-send", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Policies: []agentv1.RegoPolicy{
			file("inbound/request.rego", good+"allow if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"}).status_code == 200\n"),
		}}, denied: []string{"spec.policies[0].content", "inbound/request.rego:6", "http.send is not allowed"}},
		{name: "global-elsewhere", namespace: "validate-ap", spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeGlobal, Policies: []agentv1.RegoPolicy{
			file("inbound/request.rego", "package authbridge.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n"),
		}}, denied: []string{"global"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ap := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: c.namespace, Name: c.name}, Spec: c.spec}
			err := env.Client.Create(ctx, ap)
			if len(c.denied) == 0 {
				if err != nil {
					t.Fatalf("want it admitted: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("admitted, want a denial")
			}
			for _, want := range c.denied {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("denial %q does not contain %q", err, want)
				}
			}
		})
	}
}
