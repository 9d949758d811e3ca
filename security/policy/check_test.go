package policy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

func ap(ns, name string, scope agentv1.PolicyScope, files ...string) *agentv1.AuthorizationPolicy {
	p := &agentv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       agentv1.AuthorizationPolicySpec{Scope: scope},
	}
	for i := 0; i+1 < len(files); i += 2 {
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: files[i], Content: files[i+1]})
	}
	return p
}

const nsAllow = "package authbridge.ns.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.identity.client_id == \"x\"\n"

func TestCheck(t *testing.T) {
	const platformNS = "trustsync-system"
	tests := []struct {
		name     string
		policies []*agentv1.AuthorizationPolicy
		want     []string // substrings of the errors, in order
	}{
		{
			name:     "default global policy compiles",
			policies: []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, false)},
		},
		{
			name:     "default global policy requiring client policies compiles",
			policies: []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true)},
		},
		{
			name: "namespace and client tiers",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "team-a", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
				ap("team-a", "weather", agentv1.ScopeClient, "outbound/request.rego", "package authbridge.client.outbound.request\nimport rego.v1\nallow := true\n"),
				ap("team-a", "helpers", agentv1.ScopeNamespace, "lib/util.rego", "package authbridge.ns.lib\nimport rego.v1\nteam := \"a\"\n"),
			},
		},
		{
			name: "syntax error names path and line",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "broken", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\nimport rego.v1\n\nallow if {\n  input.x ==\n"),
			},
			want: []string{"spec.policies[0].content: inbound/request.rego:6: rego_parse_error"},
		},
		{
			name: "compile error names the line",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "broken", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nimport rego.v1\n\nallow if undefined_fn(input.x)\n"),
			},
			want: []string{"inbound/request.rego:4: rego_type_error"},
		},
		{
			name: "namespace policy may not define the global decision",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "sneaky", agentv1.ScopeNamespace, "x.rego", "package authbridge.inbound.request\nimport rego.v1\nallow := true\n"),
			},
			want: []string{"package authbridge.inbound.request is outside the namespace tier"},
		},
		{
			name: "client policy may not define the namespace tier",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "sneaky", agentv1.ScopeClient, "x.rego", "package authbridge.ns.inbound.request\nimport rego.v1\noverride := true\n"),
			},
			want: []string{"outside the client tier"},
		},
		{
			name: "decision file must declare its point's package",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "mixed", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.outbound.request\nimport rego.v1\nallow := true\n"),
			},
			want: []string{"inbound/request.rego must declare package authbridge.ns.inbound.request"},
		},
		{
			name: "global policy outside the platform namespace",
			policies: []*agentv1.AuthorizationPolicy{
				DefaultGlobalPolicy("team-a", false),
			},
			want: []string{`spec.scope: global policies are honoured only in the platform namespace "trustsync-system"`},
		},
		{
			name: "a repository's global tier must cover every decision point",
			policies: []*agentv1.AuthorizationPolicy{
				ap(platformNS, "mine", agentv1.ScopeGlobal, "inbound/request.rego", "package authbridge.inbound.request\nimport rego.v1\ndefault allow := false\n",
					"outbound/request.rego", "package authbridge.outbound.request\nimport rego.v1\ndefault allow := false\n"),
			},
			want: []string{"defines no package authbridge.inbound.response", "defines no package authbridge.outbound.response"},
		},
		{
			name: "two namespace policies defining the same default conflict",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "one", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
				ap("team-a", "two", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
			},
			want: []string{"conflicts with another namespace-scope policy"},
		},
		{
			name: "same packages in different namespaces do not conflict",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "one", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
				ap("team-b", "one", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
			},
		},
		{
			name: "duplicate and invalid paths",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "dup", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow, "inbound/request.rego", nsAllow, "Bad.rego", nsAllow),
			},
			want: []string{"spec.policies[1].path", "spec.policies[2].path"},
		},
		{
			name: "Rego v0 syntax is refused",
			policies: []*agentv1.AuthorizationPolicy{
				ap("team-a", "old", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\nallow { true }\n"),
			},
			want: []string{"rego_parse_error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Check(tt.policies, CheckOptions{PlatformNamespace: platformNS})
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d %v", len(errs), errs, len(tt.want), tt.want)
			}
			for i, e := range errs {
				full := e.Field + ": " + e.Error()
				if !strings.Contains(full, tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, full, tt.want[i])
				}
			}
		})
	}
}

func TestDefaultGlobalPolicyRequireClient(t *testing.T) {
	open := DefaultGlobalPolicy("ns", false)
	strict := DefaultGlobalPolicy("ns", true)
	for i := range open.Spec.Policies {
		path := open.Spec.Policies[i].Path
		hasFallback := strings.Contains(strict.Spec.Policies[i].Content, "client_ok if not data.authbridge.client")
		if want := strings.HasSuffix(path, "response.rego"); hasFallback != want {
			t.Errorf("%s: client fallback present=%v, want %v", path, hasFallback, want)
		}
		if !strings.Contains(open.Spec.Policies[i].Content, "client_ok if not data.authbridge.client") {
			t.Errorf("%s: default policy lacks the client fallback", path)
		}
	}
}
