package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func TestCapabilities(t *testing.T) {
	c := Capabilities()
	if c.AllowNet == nil || len(c.AllowNet) != 0 {
		t.Errorf("allow_net %v: want empty, not nil (nil lets OPA connect anywhere)", c.AllowNet)
	}
	kept := map[string]bool{}
	for _, b := range c.Builtins {
		kept[b.Name] = true
	}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic && kept[b.Name] {
			t.Errorf("%s is nondeterministic and still in the capabilities", b.Name)
		}
	}
	for _, name := range []string{"http.send", "net.lookup_ip_addr", "rand.intn", "time.now_ns", "uuid.rfc4122", "opa.runtime",
		"io.jwt.encode_sign", "io.jwt.encode_sign_raw", "io.jwt.decode_verify", "providers.aws.sign_req", "crypto.x509.parse_and_verify_certificates"} {
		if kept[name] {
			t.Errorf("%s is in the capabilities", name)
		}
		if _, ok := RefusedBuiltins()[name]; !ok {
			t.Errorf("RefusedBuiltins lacks %s", name)
		}
	}
	for _, name := range []string{"count", "startswith", "regex.match", "time.parse_rfc3339_ns", "io.jwt.decode", "uuid.parse", "net.cidr_contains"} {
		if !kept[name] {
			t.Errorf("%s, deterministic, is left out", name)
		}
	}
}

// TestRefusedBuiltinsInCheck: a policy or a test calling a built-in that reaches the
// network, the clock or a random source is refused with its policy, field, file and line.
func TestRefusedBuiltinsInCheck(t *testing.T) {
	const head = "package authbridge.ns.inbound.request\n\nimport rego.v1\n\n"
	const testHead = "package authbridge.ns.inbound.request_test\n\nimport rego.v1\n\n"
	tests := []struct {
		name, path, body string
		want             string
	}{
		{"http.send in a policy", "inbound/request.rego", head + "allow if {\n\tr := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})\n\tr.status_code == 200\n}\n",
			"spec.policies[0].content: inbound/request.rego:6: http.send is not allowed: it reaches the network"},
		{"http.send nested in a call", "inbound/request.rego", head + "allow if object.get(http.send({\"method\": \"GET\", \"url\": \"x\"}), \"status_code\", 0) == 200\n",
			"inbound/request.rego:5: http.send is not allowed"},
		{"net.lookup_ip_addr", "inbound/request.rego", head + "allow if count(net.lookup_ip_addr(\"example.org\")) > 0\n",
			"inbound/request.rego:5: net.lookup_ip_addr is not allowed: it reaches the network"},
		{"rand.intn", "inbound/request.rego", head + "allow if rand.intn(\"x\", 2) == 1\n",
			"rand.intn is not allowed: it draws random numbers"},
		{"time.now_ns", "inbound/request.rego", head + "allow if time.now_ns() > 0\n",
			"time.now_ns is not allowed: it reads the clock"},
		{"uuid.rfc4122", "inbound/request.rego", head + "allow if uuid.rfc4122(\"k\") != \"\"\n", "uuid.rfc4122 is not allowed"},
		{"opa.runtime", "inbound/request.rego", head + "allow if opa.runtime().env.HOME != \"\"\n", "opa.runtime is not allowed: it reads the process's environment"},
		{"io.jwt.encode_sign", "inbound/request.rego", head + "allow if io.jwt.encode_sign({\"alg\": \"HS256\"}, {}, {\"kty\": \"oct\", \"k\": \"a\"}) != \"\"\n", "io.jwt.encode_sign is not allowed"},
		{"providers.aws.sign_req, refused by name", "inbound/request.rego", head + "allow if providers.aws.sign_req({}, {}, 0) != {}\n", "providers.aws.sign_req is not allowed"},
		{"strings.render_template, unbounded within one call", "inbound/request.rego", head + "allow if strings.render_template(\"{{range 1000000000}}x{{end}}\", {}) != \"\"\n",
			"inbound/request.rego:5: strings.render_template is not allowed: one call can run and allocate without end"},
		{"graph.reachable_paths, unbounded within one call", "inbound/request.rego", head + "allow if count(graph.reachable_paths({\"a\": [\"b\"], \"b\": [\"a\"]}, {\"a\"})) > 0\n",
			"graph.reachable_paths is not allowed"},
		{"http.send in a test", "inbound/request_test.rego", testHead + "test_x if {\n\thttp.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})\n}\n",
			"spec.policies[1].content: inbound/request_test.rego:6: http.send is not allowed"},
		{"mocking http.send in a test", "inbound/request_test.rego", testHead + "test_x if {\n\tdata.authbridge.inbound.request.allow with http.send as {}\n}\n",
			"inbound/request_test.rego:6: http.send is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ap("team-b", "team-b", agentv1.ScopeNamespace, tt.path, tt.body)
			if IsTestFile(tt.path) {
				p = ap("team-b", "team-b", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow, tt.path, tt.body)
			}
			errs := Check([]*agentv1.AuthorizationPolicy{p}, CheckOptions{PlatformNamespace: platformNS})
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			if got := errs[0].Field + ": " + errs[0].Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestRefusedBuiltinsPastCheck: what reaches the cluster without Check (no webhook) is
// refused when its bundle is built, and a test file when its tests are compiled.
func TestRefusedBuiltinsPastCheck(t *testing.T) {
	send := "package authbridge.client.inbound.request\n\nallow if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"}).status_code == 200\n"
	p := ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego", send)
	_, err := Build(testSet(p).Tiers("team-b", "planner-agent"))
	if err == nil || !strings.Contains(err.Error(), "AuthorizationPolicy team-b/planner-agent: inbound/request.rego:3: rego_type_error: http.send is not allowed") {
		t.Errorf("Build: %v", err)
	}

	withTest := clientPlanner.DeepCopy()
	withTest.Spec.Policies = append(withTest.Spec.Policies, agentv1.RegoPolicy{Path: "inbound/request_test.rego",
		Content: "package t\n\ntest_x if time.now_ns() > 0\n"})
	_, errs := Test(context.Background(), testSet(withTest), []*agentv1.AuthorizationPolicy{withTest}, gitopsv1.Limits{})
	if len(errs) != 1 || errs[0].Path != "inbound/request_test.rego" || errs[0].Line != 3 || !strings.Contains(errs[0].Error(), "time.now_ns is not allowed") {
		t.Errorf("Test: %v", errs)
	}
}

// TestSprintfPadding: sprintf pads at most MaxSprintfPadding characters in one call (Go
// pads up to a million per verb, and no bound stops a built-in mid-call); formats within
// it are OPA's.
func TestSprintfPadding(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, expr string
		want       string // the reason's substring; "" for an allow
	}{
		{"a plain format", `sprintf("%s-%05d", ["a", 7]) == "a-00007"`, ""},
		{"widths within the bound", `count(sprintf("%1000000d", [1])) == 1000000`, ""},
		{"a literal width per verb, past the bound", `sprintf("%1000000d%1000000d", [1, 2]) != ""`,
			"sprintf: the format's widths and precisions would pad the result by 2000000 characters, over the bound of 1048576"},
		{"widths from the arguments", `sprintf("%*d%*d", [1000000, 1, 1000000, 2]) != ""`, "would pad the result by 2000000 characters"},
		{"precisions count", `sprintf("%.1000000f%.1000000f", [1.5, 2.5]) != ""`, "would pad the result by 2000000 characters"},
		{"a built format", `sprintf(concat("", ["%1000000d" | some i in numbers.range(1, 3000)]), [1 | some i in numbers.range(1, 3000)]) != ""`,
			"would pad the result by 3000000000 characters"},
		{"widths fmt ignores do not count", `sprintf("%9999999d", [1]) != ""`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego",
				"package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if "+tt.expr+"\n")
			b, err := Build(testSet(p).Tiers("team-b", "planner-agent"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, b, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := d.Decide(ctx, Points[0], Call{}.Input(Points[0]))
			switch {
			case tt.want == "" && !got.Allow:
				t.Errorf("denied: %s", got.Reason)
			case tt.want != "" && (got.Allow || !strings.Contains(got.Reason, tt.want)):
				t.Errorf("got %+v, want a deny containing %q", got, tt.want)
			}
		})
	}
}
