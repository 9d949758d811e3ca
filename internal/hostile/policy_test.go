package hostile

import (
	"fmt"
	"strings"
	"testing"
)

// policyYAML is team-a's namespace AuthorizationPolicy with the given Rego files (path,
// content pairs), as a repository would hold it.
func policyYAML(files ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: agent.kagenti.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: team-a, namespace: team-a}\nspec:\n  scope: namespace\n  policies:\n")
	for i := 0; i+1 < len(files); i += 2 {
		fmt.Fprintf(&b, "    - path: %s\n      content: |\n", files[i])
		for _, line := range strings.Split(strings.TrimRight(files[i+1], "\n"), "\n") {
			b.WriteString("        " + line + "\n")
		}
	}
	return b.String()
}

// policyTree is a plain tree holding one policy file.
func policyTree(files ...string) map[string]string {
	return map[string]string{"kustomization.yaml": "resources: [policy.yaml]\n", "policy.yaml": policyYAML(files...)}
}

// policyRego is team-a's inbound/request decision with body as the condition of allow.
func policyRego(body string) string {
	return "package authbridge.ns.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\t" + body + "\n}\n"
}

// policyWithTest is a policy allowing everything whose test's body is body.
func policyWithTest(body string) map[string]string {
	return policyTree("inbound/request.rego", policyRego("true"),
		"inbound/request_test.rego", "package authbridge.ns.inbound.request_test\n\nimport rego.v1\n\ntest_hostile if {\n\t"+body+"\n}\n")
}

const (
	regoHTTPSend = `http.send({"method": "GET", "url": "{canaryURL}/latest/meta-data"}).status_code == 200`
	// A comprehension that would hold gigabytes.
	regoMemoryBomb = `count([{"a": i, "b": [i, i, i]} | some i in numbers.range(1, 100000000)]) > 0`
	// A loop that would run for minutes in almost no memory.
	regoTimeBomb = `count({x | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000); x := a + b + c}) > 0`
)

// policyEval asks team-a's inbound decision, where policyTree's policy decides.
var policyEval = []string{"policy", "eval", "{tree}", "--caller", "spiffe://localtest.me/ns/team-a/sa/a", "--callee", "spiffe://localtest.me/ns/team-a/sa/b"}

// TestPolicyReachesNoNetwork: Rego that would reach the network, the clock or a random
// source is refused where it is compiled — at render, in policy eval, policy test and
// preview — naming the policy, field, file and line; nothing is fetched.
func TestPolicyReachesNoNetwork(t *testing.T) {
	render := []string{"render", "{tree}"}
	inPolicy := []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[0].content", "inbound/request.rego:8"}
	inTest := []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[1].content", "inbound/request_test.rego:6"}
	cases := []Case{
		{Name: "http.send in a policy, render", Files: policyTree("inbound/request.rego", policyRego(regoHTTPSend)), Args: render,
			Stderr: append(inPolicy, "http.send is not allowed: it reaches the network")},
		{Name: "http.send in a test, render", Files: policyWithTest(regoHTTPSend), Args: render,
			Stderr: append(inTest, "http.send is not allowed")},
		{Name: "http.send in a policy, policy eval", Files: policyTree("inbound/request.rego", policyRego(regoHTTPSend)), Args: policyEval,
			Stderr: append(inPolicy, "http.send is not allowed")},
		{Name: "http.send in a test, policy test", Files: policyWithTest(regoHTTPSend), Args: []string{"policy", "test", "{tree}"},
			Stderr: append(inTest, "http.send is not allowed")},
		{Name: "http.send in a test, policy bundle", Files: policyWithTest(regoHTTPSend),
			Args:   []string{"policy", "bundle", "{tree}", "--identity", "spiffe://localtest.me/ns/team-a/sa/a", "-o", "{tree}/b.tar.gz"},
			Stderr: append(inTest, "http.send is not allowed")},
		{Name: "mocking http.send in a test", Files: policyWithTest("data.authbridge.inbound.request.allow with http.send as {\"status_code\": 200}"), Args: render,
			Stderr: append(inTest, "http.send is not allowed")},
		{Name: "net.lookup_ip_addr", Files: policyTree("inbound/request.rego", policyRego(`count(net.lookup_ip_addr("localhost")) > 0`)), Args: render,
			Stderr: append(inPolicy, "net.lookup_ip_addr is not allowed: it reaches the network")},
		{Name: "rand.intn", Files: policyTree("inbound/request.rego", policyRego(`rand.intn("seed", 2) == 1`)), Args: render,
			Stderr: append(inPolicy, "rand.intn is not allowed: it draws random numbers")},
		{Name: "time.now_ns", Files: policyTree("inbound/request.rego", policyRego(`time.now_ns() > 0`)), Args: render,
			Stderr: append(inPolicy, "time.now_ns is not allowed: it reads the clock")},
		{Name: "time.now_ns in a test", Files: policyWithTest(`time.now_ns() > 0`), Args: render,
			Stderr: append(inTest, "time.now_ns is not allowed")},
		{Name: "uuid.rfc4122", Files: policyTree("inbound/request.rego", policyRego(`uuid.rfc4122("k") != ""`)), Args: policyEval,
			Stderr: append(inPolicy, "uuid.rfc4122 is not allowed")},
		{Name: "opa.runtime", Files: policyTree("inbound/request.rego", policyRego(`opa.runtime().env.HOME != ""`)), Args: render,
			Stderr: append(inPolicy, "opa.runtime is not allowed: it reads the process's environment")},
		{Name: "strings.render_template", Files: policyTree("inbound/request.rego", policyRego(`strings.render_template("{{range 1000000000}}x{{end}}", {}) != ""`)), Args: policyEval,
			Stderr: append(inPolicy, "strings.render_template is not allowed")},
	}
	// preview: the head adds the policy; its report says why the head does not render.
	for _, c := range []struct{ name, rego string }{{"http.send", regoHTTPSend}, {"net.lookup_ip_addr", `count(net.lookup_ip_addr("localhost")) > 0`}} {
		cases = append(cases, Case{Name: c.name + " in a policy, preview",
			Commits: []map[string]string{{"app/kustomization.yaml": "resources: [deploy.yaml]\n", "app/deploy.yaml": policyDeployment},
				{"app/kustomization.yaml": "resources: [deploy.yaml, policy.yaml]\n", "app/policy.yaml": policyYAML("inbound/request.rego", policyRego(c.rego))}},
			Args: []string{"preview", "{tree}/app", "--base", "HEAD~1", "--head", "HEAD"}, Exit: 1,
			Stderr: []string{"preview fails"},
			Stdout: []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "inbound/request.rego:8", c.name + " is not allowed"}})
	}
	run(t, cases)
}

// policyDeployment is a plain workload, for a base revision without policies.
const policyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
`

// policyAgents are two agents of team-a, so a preview has calls to decide.
func policyAgents() map[string]string {
	files := map[string]string{}
	var res []string
	for _, name := range []string{"a", "b"} {
		files["app/"+name+".yaml"] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: team-a}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: agent, image: agent:1, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: team-a}
spec: {selector: {app: %[1]s}, ports: [{port: 8080}]}
---
apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: %[1]s, namespace: team-a}
spec: {type: agent, targetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}}
`, name)
		res = append(res, name+".yaml")
	}
	files["app/kustomization.yaml"] = "resources: [" + strings.Join(res, ", ") + "]\n"
	return files
}

// TestPolicyBounds: Rego that would exhaust time or memory is stopped at the Platform's
// bounds (a deny in the data plane; an error naming the policy, file and limit here),
// and oversized policies are refused before they are parsed.
func TestPolicyBounds(t *testing.T) {
	render := []string{"render", "{tree}"}
	inPolicy := []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[0].content", "inbound/request.rego:8"}
	var rules strings.Builder
	rules.WriteString("package authbridge.ns.inbound.request\n\nimport rego.v1\n\ndefault allow := false\n")
	for i := range 2000 { // and the default: 2001
		fmt.Fprintf(&rules, "allow if input.n == %d\n", i)
	}
	head := policyAgents()
	head["app/kustomization.yaml"] = strings.Replace(head["app/kustomization.yaml"], "]", ", policy.yaml]", 1)
	head["app/policy.yaml"] = policyYAML("inbound/request.rego", policyRego(regoMemoryBomb))
	run(t, []Case{
		{Name: "comprehension bomb in a test, render", Platform: "limits: {regoTimeout: 10m, regoTestsTimeout: 10m}\n", Files: policyWithTest(regoMemoryBomb), Args: render,
			Stderr: []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[1].content", "inbound/request_test.rego:5", "test test_hostile failed", "over the bound 64Mi (Platform limits.regoMemory)"}},
		{Name: "comprehension bomb in a test, policy test", Platform: "limits: {regoTimeout: 10m, regoTestsTimeout: 10m}\n", Files: policyWithTest(regoMemoryBomb), Args: []string{"policy", "test", "{tree}"},
			Stderr: []string{"1 Rego tests failed"}, Stdout: []string{"FAIL  team-a/team-a  inbound/request_test.rego:5  test_hostile", "over the bound 64Mi (Platform limits.regoMemory)"}},
		{Name: "time bomb in a test, render", Files: policyWithTest(regoTimeBomb), Args: render,
			Stderr: []string{"inbound/request_test.rego:5", "test test_hostile failed", "over the bound 1s (Platform limits.regoTimeout)"}},
		{Name: "comprehension bomb in a policy, policy eval", Platform: "limits: {regoTimeout: 10m, regoTestsTimeout: 10m}\n", Files: policyTree("inbound/request.rego", policyRego(regoMemoryBomb)), Args: policyEval,
			Stderr: append(inPolicy, "over the bound 64Mi (Platform limits.regoMemory)")},
		{Name: "time bomb in a policy, policy eval", Files: policyTree("inbound/request.rego", policyRego(regoTimeBomb)), Args: policyEval,
			Stderr: append(inPolicy, "did not finish in time, over the bound 1s (Platform limits.regoTimeout)")},
		{Name: "sprintf padding bomb, policy eval", Files: policyTree("inbound/request.rego",
			policyRego(`sprintf(concat("", ["%1000000d" | some i in numbers.range(1, 5000)]), [1 | some i in numbers.range(1, 5000)]) != ""`)), Args: policyEval,
			Succeeds: true, Stdout: []string{"deny: the policy failed to evaluate: sprintf: the format's widths and precisions would pad the result by 5000000000 characters"}},
		{Name: "comprehension bomb in a policy, preview", Platform: "limits: {regoTimeout: 10m, regoTestsTimeout: 10m}\n", Commits: []map[string]string{policyAgents(), head},
			Args: []string{"preview", "{tree}/app", "--base", "HEAD~1", "--head", "HEAD"}, Exit: 2,
			Stderr: []string{"the head revision", "app/policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[0].content", "inbound/request.rego:8", "limits.regoMemory"}},
		{Name: "oversized policy", Files: policyTree("inbound/request.rego", policyRego("true")+"# "+strings.Repeat("x", 300<<10)+"\n"), Args: render,
			Stderr: []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies", "over the bound 256Ki (Platform limits.policySize)"}},
		{Name: "oversized policy, policy eval", Files: policyTree("inbound/request.rego", policyRego("true")+"# "+strings.Repeat("x", 300<<10)+"\n"), Args: policyEval,
			Stderr: []string{"AuthorizationPolicy team-a/team-a", "limits.policySize"}},
		{Name: "too many rules", Files: policyTree("inbound/request.rego", rules.String()), Args: render,
			Stderr: []string{"policy.yaml", "AuthorizationPolicy team-a/team-a", "spec.policies[0].content", "the policy has 2001 rules", "over the bound 2000 (Platform limits.policyRules)"}},
		{Name: "too many files", Files: func() map[string]string {
			var files []string
			for i := range 2001 {
				files = append(files, fmt.Sprintf("inbound/f%d.rego", i), "package authbridge.ns.inbound.request\n")
			}
			return policyTree(files...)
		}(), Args: render, Stderr: []string{"AuthorizationPolicy team-a/team-a", "the policy has 2001 files", "limits.policyRules"}},
		{Name: "terms nested past the bound", Files: policyTree("inbound/request.rego", policyRego("1"+strings.Repeat(" + 1", 5000)+" > 0")), Args: render,
			Stderr: append(inPolicy, "terms nest more than 50 deep")},
	})
}

// TestPolicyIdentities: a policy or a command naming an identity it does not decide for
// is refused, naming the field or flag.
func TestPolicyIdentities(t *testing.T) {
	clientPolicy := func(clientID string) map[string]string {
		return map[string]string{"kustomization.yaml": "resources: [policy.yaml]\n", "policy.yaml": `apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: planner-agent, namespace: team-b}
spec:
  scope: client
  clientID: ` + clientID + `
  policies:
    - path: inbound/request.rego
      content: |
        package authbridge.client.inbound.request

        allow := true
`}
	}
	plain := policyTree("inbound/request.rego", policyRego("true"))
	run(t, []Case{
		{Name: "clientID naming another namespace's agent by SPIFFE ID", Files: clientPolicy("spiffe://localtest.me/ns/team-a/sa/research-agent"), Args: []string{"render", "{tree}"},
			Stderr: []string{"policy.yaml", "AuthorizationPolicy team-b/planner-agent", "spec.clientID", "names an agent of namespace team-a"}},
		{Name: "clientID naming another namespace's agent by client ID", Files: clientPolicy("team-a/research-agent"), Args: []string{"render", "{tree}"},
			Stderr: []string{"policy.yaml", "AuthorizationPolicy team-b/planner-agent", "spec.clientID", "names an agent of namespace team-a"}},
		{Name: "clientID of a foreign trust domain", Files: clientPolicy("spiffe://evil.example/ns/team-b/sa/planner-agent"), Args: []string{"render", "{tree}"},
			Stderr: []string{"spec.clientID", "trust domain evil.example, not the platform's (localtest.me)"}},
		{Name: "clientID of its own agent", Files: clientPolicy("planner-agent"), Args: []string{"render", "{tree}"}, Succeeds: true},
		{Name: "foreign trust domain, policy eval callee", Files: plain,
			Args:   []string{"policy", "eval", "{tree}", "--caller", "spiffe://localtest.me/ns/team-a/sa/a", "--callee", "spiffe://evil.example/ns/team-a/sa/b"},
			Stderr: []string{"--callee", `trust domain "evil.example" is not the platform's (localtest.me)`, "403"}},
		{Name: "foreign trust domain, policy eval caller", Files: plain,
			Args:   []string{"policy", "eval", "{tree}", "--caller", "spiffe://evil.example/ns/team-a/sa/a", "--callee", "spiffe://localtest.me/ns/team-a/sa/b"},
			Stderr: []string{"--caller", "evil.example", "403"}},
		{Name: "foreign trust domain, policy bundle", Files: plain,
			Args:   []string{"policy", "bundle", "{tree}", "--identity", "spiffe://evil.example/ns/team-a/sa/a", "-o", "{tree}/b.tar.gz"},
			Stderr: []string{"--identity", "evil.example", "403"}},
	})
}
