package policy

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestCheckBounds: a policy's size, rules, term nesting and body length are bounded,
// each refusal naming the limit, the policy's field and where known the file.
func TestCheckBounds(t *testing.T) {
	const head = "package authbridge.client.inbound.request\n\nimport rego.v1\n\n"
	rules := func(n int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			fmt.Fprintf(&b, "r%d if input.n == %d\n", i, i)
		}
		return b.String()
	}
	tests := []struct {
		name   string
		files  []string
		limits gitopsv1.Limits
		want   string // "" for no error
	}{
		{"within the default size", []string{"inbound/request.rego", head + "allow := true\n"}, gitopsv1.Limits{}, ""},
		// Not Rego at all: the size is refused before anything is parsed.
		{"over the default size, before parsing", []string{"inbound/request.rego", strings.Repeat("{", 300<<10)}, gitopsv1.Limits{},
			"spec.policies: the policy's 1 files hold 307220 bytes (paths and Rego; the largest, spec.policies[0] inbound/request.rego, 300Ki), over the bound 256Ki (Platform limits.policySize)"},
		{"all files count toward the size", []string{"inbound/request.rego", head + "allow := true\n" + strings.Repeat("# pad\n", 25<<10),
			"inbound/request_test.rego", "package t\n" + strings.Repeat("# pad\n", 25<<10)}, gitopsv1.Limits{}, "over the bound 256Ki (Platform limits.policySize)"},
		{"a raised size bound", []string{"inbound/request.rego", head + "allow := true\n" + strings.Repeat("# pad\n", 50<<10)},
			gitopsv1.Limits{PolicySize: resource.NewQuantity(1<<20, resource.BinarySI)}, ""},
		{"over the default rule count", []string{"inbound/request.rego", rules(2001)}, gitopsv1.Limits{},
			"spec.policies[0].content: inbound/request.rego: the policy has 2001 rules (2001 in this file), over the bound 2000 (Platform limits.policyRules)"},
		{"else branches and tests count", []string{"inbound/request.rego", head + "f := 1 if input.a else := 2 if input.b else := 3\n",
			"inbound/request_test.rego", "package t\ntest_a if true\ntest_b if true\n"}, gitopsv1.Limits{PolicyRules: 4},
			"the policy has 5 rules (3 in this file), over the bound 4 (Platform limits.policyRules)"},
		{"more files than rules", func() []string {
			var files []string
			for i := range 5 {
				files = append(files, fmt.Sprintf("inbound/f%d.rego", i), head+"allow := true\n")
			}
			return files
		}(), gitopsv1.Limits{PolicyRules: 4}, "spec.policies: the policy has 5 files, more than it may have rules, over the bound 4 (Platform limits.policyRules)"},
		{"paths count toward the size", []string{"inbound/" + strings.Repeat("a", 300) + ".rego", head + "allow := true\n"},
			gitopsv1.Limits{PolicySize: resource.NewQuantity(256, resource.BinarySI)}, "over the bound 256 (Platform limits.policySize)"},
		{"terms nested too deep", []string{"inbound/request.rego", head + "x := " + strings.Repeat("abs(", MaxTermDepth) + "1" + strings.Repeat(")", MaxTermDepth) + "\n"}, gitopsv1.Limits{},
			"spec.policies[0].content: inbound/request.rego:5: terms nest more than 50 deep"},
		{"an operator chain nests too", []string{"inbound/request.rego", head + "x := 1" + strings.Repeat(" + 1", MaxTermDepth) + "\n"}, gitopsv1.Limits{},
			"inbound/request.rego:5: terms nest more than 50 deep"},
		{"a body too long", []string{"inbound/request.rego", head + "allow if {\n" + strings.Repeat("\tinput.a == 1\n", MaxBodyExpressions+1) + "}\n"}, gitopsv1.Limits{},
			"inbound/request.rego:6: a body of 301 expressions, over the bound of 300"},
		{"a comprehension body too long", []string{"inbound/request.rego", head + "x := [1 | " + strings.Repeat("input.a == 1; ", MaxBodyExpressions+1) + "true]\n"}, gitopsv1.Limits{},
			"a body of 302 expressions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ap("team-a", "x", agentv1.ScopeClient, tt.files...)
			errs := Check([]*agentv1.AuthorizationPolicy{p}, CheckOptions{PlatformNamespace: platformNS, Limits: tt.limits})
			if tt.want == "" {
				if len(errs) > 0 {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one containing %q", errs, tt.want)
			}
			if got := errs[0].Field + ": " + errs[0].Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want it to contain %q", got, tt.want)
			}
		})
	}

	// Whatever reached the cluster without Check is held to the structure bounds when
	// its bundle is built.
	deep := ap("team-a", "x", agentv1.ScopeClient, "inbound/request.rego", head+"x := 1"+strings.Repeat(" + 1", MaxTermDepth)+"\n")
	if _, err := Build(testSet(deep).Tiers("team-a", "x")); err == nil || !strings.Contains(err.Error(), "AuthorizationPolicy team-a/x: inbound/request.rego:5: terms nest more than 50 deep") {
		t.Errorf("Build: %v", err)
	}
}

func TestClientID(t *testing.T) {
	tests := []struct {
		name, clientID string
		want           string
	}{
		{"none", "", ""},
		{"its own name", "planner-agent", ""},
		{"another plain name is informational", "planner", ""},
		{"another namespace's agent by SPIFFE ID", "spiffe://example.org/ns/team-a/sa/research-agent",
			`spec.clientID: "spiffe://example.org/ns/team-a/sa/research-agent" names an agent of namespace team-a; a client policy binds only the ServiceAccount named by its metadata.name in its own namespace (team-b/planner-agent)`},
		{"another namespace's agent by Keycloak client ID", "team-a/research-agent", `"team-a/research-agent" names an agent of namespace team-a`},
		{"another ServiceAccount of its namespace", "spiffe://example.org/ns/team-b/sa/calendar-tool", `names team-b/calendar-tool`},
		{"a foreign trust domain", "spiffe://evil.org/ns/team-b/sa/planner-agent", `is of trust domain evil.org, not the platform's (example.org)`},
		{"its own SPIFFE ID, which the API server refuses", "spiffe://example.org/ns/team-b/sa/planner-agent", `does not match ^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$ (the API server refuses it); write "planner-agent"`},
		{"upper case", "Planner", `"Planner" does not match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := clientPlanner.DeepCopy()
			p.Spec.ClientID = tt.clientID
			errs := Check([]*agentv1.AuthorizationPolicy{p}, CheckOptions{PlatformNamespace: platformNS, TrustDomain: "example.org"})
			if tt.want == "" {
				if len(errs) > 0 {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			if got := errs[0].Field + ": " + errs[0].Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
