package opa

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/parsers"
	"github.com/trustsync/trustsync/internal/waitfor"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/policy"
)

const (
	platformNS = "trustsync-system"
	planner    = "spiffe://example.org/ns/team-b/sa/planner-agent"
	research   = "spiffe://example.org/ns/team-a/sa/research-agent"
	calendar   = "spiffe://example.org/ns/team-b/sa/calendar-tool"
)

func ap(ns, name string, scope agentv1.PolicyScope, files ...string) *agentv1.AuthorizationPolicy {
	p := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: agentv1.AuthorizationPolicySpec{Scope: scope}}
	for i := 0; i < len(files); i += 2 {
		p.Spec.Policies = append(p.Spec.Policies, agentv1.RegoPolicy{Path: files[i], Content: files[i+1]})
	}
	return p
}

// plannerPolicy is planner-agent's client tier. Inbound it admits research-agent when
// the input says what the sidecar knows: the peer sidecar's SVID, the token's client,
// this agent, the MCP tool, and headers without credentials. Outbound it admits tool
// calls but no result that leaks, and no server error.
var plannerPolicy = ap("team-b", "planner-agent", agentv1.ScopeClient,
	"inbound/request.rego", `package authbridge.client.inbound.request

default allow := false

allow if {
	input.direction == "inbound"
	input.peer.spiffe_id == "`+research+`"
	input.identity.client_id == "`+research+`"
	input.agent.client_id == "`+planner+`"
	input.mcp.params.name == "search"
	not input.headers.authorization
	not input.headers.cookie
	input.headers["x-trace"] == "a, b"
}
`,
	"inbound/response.rego", `package authbridge.client.inbound.response

default allow := false

allow if input.response.status_code < 500
`,
	"outbound/request.rego", `package authbridge.client.outbound.request

default allow := false

allow if input.mcp.method == "tools/call"
`,
	"outbound/response.rego", `package authbridge.client.outbound.response

default allow := false

allow if {
	input.response.status_code == 200
	not input.mcp.result.leak
}
`)

// testDecider is the bundle client's part the plugin uses, over a real Decider.
type testDecider struct {
	d     *policy.Decider
	rev   string
	ready atomic.Bool
	calls atomic.Int32
}

func (t *testDecider) Ready() bool      { return t.ready.Load() }
func (t *testDecider) Revision() string { return t.rev }
func (t *testDecider) DecideInput(ctx context.Context, pt policy.Point, build func(policy.Fields) (ast.Value, error)) policy.Decision {
	return t.d.DecideInput(ctx, pt, func(f policy.Fields) (ast.Value, error) {
		t.calls.Add(1) // an input built is an evaluation (or a memo's lookup)
		return build(f)
	})
}

func newDecider(t testing.TB, tiers policy.Tiers) *testDecider {
	t.Helper()
	b, err := policy.Build(tiers)
	if err != nil {
		t.Fatal(err)
	}
	d, err := policy.NewDecider(context.Background(), b, gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	td := &testDecider{d: d, rev: b.Revision}
	td.ready.Store(true)
	return td
}

func plannerDecider(t testing.TB) *testDecider {
	return newDecider(t, policy.Tiers{Global: []*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false)}, Client: plannerPolicy})
}

func newPlugin(t testing.TB, d Decider, include ...string) *Plugin {
	t.Helper()
	p, err := New(&sidecarconfig.OPA{AgentID: planner, Include: include}, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// inboundCall is research-agent calling planner-agent's search tool over mutual TLS.
func inboundCall() *pipeline.Request {
	return &pipeline.Request{
		Direction: pipeline.Inbound, Method: "POST", Scheme: "https", Host: "planner-agent.team-b.svc:8000", Path: "/mcp",
		Header: http.Header{
			"Authorization": {"Bearer secret-token"}, "Cookie": {"session=secret"}, "Proxy-Authorization": {"Basic c2VjcmV0"},
			"Content-Type": {"application/json"}, "X-Trace": {"a", "b"},
		},
		Peer:     &pipeline.Peer{SPIFFEID: research},
		Identity: &pipeline.Identity{Subject: "user-1", ClientID: research, Scopes: []string{"openid", "agent"}},
		MCP:      &pipeline.MCP{Method: "tools/call", RPCID: "1", IsAction: true, Params: map[string]any{"name": "search", "arguments": map[string]any{"q": "x"}}},
	}
}

func TestDecisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *pipeline.Request)
		status int
		code   string
		reason string
	}{
		{name: "allowed: every field the policy reads is there", status: 0},
		{name: "another peer sidecar", change: func(r *pipeline.Request) { r.Peer.SPIFFEID = calendar },
			status: 403, code: pipeline.CodeForbidden, reason: "refused by the client tier (team-b/planner-agent)"},
		{name: "over plaintext: no peer", change: func(r *pipeline.Request) { r.Peer = nil },
			status: 403, code: pipeline.CodeForbidden, reason: "refused by the client tier (team-b/planner-agent)"},
		{name: "another tool", change: func(r *pipeline.Request) { r.MCP.Params["name"] = "delete" },
			status: 403, code: pipeline.CodeForbidden, reason: "refused by the client tier (team-b/planner-agent)"},
		{name: "no identity", change: func(r *pipeline.Request) { r.Identity = nil },
			status: 403, code: pipeline.CodeForbidden, reason: "refused by the client tier (team-b/planner-agent)"},
		{name: "a batch of allowed calls", change: func(r *pipeline.Request) {
			second := &pipeline.MCP{Method: "tools/call", RPCID: "2", IsAction: true, Params: map[string]any{"name": "search"}}
			r.MCP.Batch = []*pipeline.MCP{{Method: "notifications/initialized"}, r.MCP, second}
		}, status: 0},
		{name: "a forbidden call behind an allowed one in a batch", change: func(r *pipeline.Request) {
			second := &pipeline.MCP{Method: "tools/call", RPCID: "2", IsAction: true, Params: map[string]any{"name": "delete"}}
			r.MCP.Batch = []*pipeline.MCP{r.MCP, second}
		}, status: 403, code: pipeline.CodeForbidden, reason: "refused by the client tier (team-b/planner-agent)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlugin(t, plannerDecider(t))
			r := inboundCall()
			if tc.change != nil {
				tc.change(r)
			}
			chosen := r.MCP
			d := p.OnRequest(t.Context(), r)
			if r.MCP != chosen {
				t.Error("the decision left another call of the batch as r.MCP")
			}
			if tc.status == 0 {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
				return
			}
			if d == nil {
				t.Fatal("allowed")
			}
			if d.StatusCode() != tc.status || d.Code != tc.code || d.Message != tc.reason {
				t.Errorf("denied %d %s %q, want %d %s %q", d.StatusCode(), d.Code, d.Message, tc.status, tc.code, tc.reason)
			}
		})
	}
}

// TestDenyCarriesTheRegoReason: a global policy's own reason is the denial's message.
func TestDenyCarriesTheRegoReason(t *testing.T) {
	global := ap(platformNS, "default", agentv1.ScopeGlobal, "outbound/request.rego", `package authbridge.outbound.request

default allow := false

allow if input.mcp.params.name != "rm"

reason := sprintf("tool %s is not for agents", [input.mcp.params.name]) if not allow
`)
	p := newPlugin(t, newDecider(t, policy.Tiers{Global: []*agentv1.AuthorizationPolicy{global}}))
	r := &pipeline.Request{Direction: pipeline.Outbound, Method: "POST", Host: "tools:80", Path: "/mcp", Header: http.Header{},
		MCP: &pipeline.MCP{Method: "tools/call", RPCID: "1", Params: map[string]any{"name": "rm"}}}
	d := p.OnRequest(t.Context(), r)
	if d == nil || d.Code != pipeline.CodeForbidden || d.StatusCode() != 403 || d.Message != "tool rm is not for agents" {
		t.Fatalf("got %+v, want 403 policy.forbidden with the policy's reason", d)
	}
	r.MCP.Params["name"] = "ls"
	if d := p.OnRequest(t.Context(), r); d != nil {
		t.Fatalf("ls denied: %v", d)
	}
	// The other points have no global policy: the bundle fails closed.
	r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{}}
	if d := p.OnResponse(t.Context(), r); d == nil || !strings.Contains(d.Message, "fail closed") {
		t.Fatalf("response point: %+v, want the fail-closed deny", d)
	}
}

func TestNotReady(t *testing.T) {
	dec := plannerDecider(t)
	dec.ready.Store(false)
	p := newPlugin(t, dec)
	if err := p.Ready(); err == nil {
		t.Fatal("ready without a bundle")
	}
	r := inboundCall()
	for _, phase := range []string{"request", "response"} {
		var d *pipeline.Deny
		if phase == "request" {
			d = p.OnRequest(t.Context(), r)
		} else {
			r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{}}
			d = p.OnResponse(t.Context(), r)
		}
		if d == nil || d.StatusCode() != 503 || d.Code != pipeline.CodeUnreachable || d.Message != "opa policy engine not initialized" {
			t.Errorf("%s phase: %+v, want 503 upstream.unreachable", phase, d)
		}
	}
	if n := dec.calls.Load(); n != 0 {
		t.Errorf("%d evaluations without a bundle", n)
	}
	dec.ready.Store(true)
	if err := p.Ready(); err != nil {
		t.Fatal(err)
	}
	r.Response = nil
	if d := p.OnRequest(t.Context(), r); d != nil {
		t.Fatalf("denied once ready: %v", d)
	}
}

// TestAgentIDFile: a missing agent ID file keeps the plugin unready until Run reads it.
func TestAgentIDFile(t *testing.T) {
	var content atomic.Pointer[string]
	read := func(name string) ([]byte, error) {
		if name != "/shared/agent-id" {
			return nil, errors.New("unexpected file " + name)
		}
		if c := content.Load(); c != nil {
			return []byte(*c), nil
		}
		return nil, fs.ErrNotExist
	}
	p, err := New(&sidecarconfig.OPA{AgentIDFile: "/shared/agent-id"}, plannerDecider(t), Options{ReadFile: read, AgentIDPoll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "/shared/agent-id") {
		t.Fatalf("Ready = %v, want the missing file named", err)
	}
	if d := p.OnRequest(t.Context(), inboundCall()); d == nil || d.StatusCode() != 503 {
		t.Fatalf("without the agent ID: %+v, want 503", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan struct{})
	go func() { p.Run(ctx); close(ran) }()
	blank := "  \n"
	content.Store(&blank) // an empty file is not an ID yet
	id := planner + "\n"
	content.Store(&id)
	waitfor.True(t, "the agent ID file read", func() bool { return p.Ready() == nil })
	<-ran
	if d := p.OnRequest(t.Context(), inboundCall()); d != nil {
		t.Fatalf("denied with the agent ID read: %v", d)
	}
	// Run returns at once when the ID is known.
	p.Run(ctx)
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(nil, plannerDecider(t), Options{}); err == nil {
		t.Error("no config accepted")
	}
	if _, err := New(&sidecarconfig.OPA{AgentID: planner}, nil, Options{}); err == nil {
		t.Error("no decider accepted")
	}
}

// TestResponsePhase: inbound and outbound responses are decided with the response.
func TestResponsePhase(t *testing.T) {
	p := newPlugin(t, plannerDecider(t), "mcp.result")
	for _, tc := range []struct {
		name   string
		r      *pipeline.Request
		status int
		allow  bool
	}{
		{"inbound 200", inboundCall(), 200, true},
		{"inbound 502", inboundCall(), 502, false},
		{"outbound 200", outboundCall(), 200, true},
		{"outbound 404", outboundCall(), 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Response = &pipeline.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=b"}}}
			if d := p.OnResponse(t.Context(), tc.r); (d == nil) != tc.allow {
				t.Errorf("allowed %v, want %v (%v)", d == nil, tc.allow, d)
			}
		})
	}
}

func outboundCall() *pipeline.Request {
	return &pipeline.Request{
		Direction: pipeline.Outbound, Method: "POST", Scheme: "http", Host: "calendar-tool.team-b.svc:8000", Path: "/mcp",
		Header:   http.Header{"Content-Type": {"application/json"}},
		Body:     []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"book","arguments":{"at":"9:00"}}}`),
		Identity: &pipeline.Identity{Subject: "user-1", ClientID: calendar, ServiceID: calendar},
	}
}

// TestStreamedResponse runs the real mcp-parser and opa in one outbound pipeline over
// an SSE response: the events before the result are not evaluated, the result's is,
// and a leaking result ends the stream.
func TestStreamedResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		include []string
		result  string
		deny    bool
		evals   int32
	}{
		{"a clean result", []string{"mcp.result"}, `{"ok":true}`, false, 3},
		{"a leaking result", []string{"mcp.result"}, `{"leak":true}`, true, 3},
		{"without include mcp.result no event is evaluated", nil, `{"leak":true}`, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := plannerDecider(t)
			pl, err := pipeline.New(pipeline.Outbound, []pipeline.Entry{{Plugin: parsers.NewMCP(nil)}, {Plugin: newPlugin(t, dec, tc.include...)}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			r := outboundCall()
			if d := pl.Request(ctx, r); d != nil {
				t.Fatalf("request denied: %v", d)
			}
			r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Streaming: true}
			if d := pl.Response(ctx, r); d != nil {
				t.Fatalf("response denied: %v", d)
			}
			for i := range 3 {
				if d := pl.Frame(ctx, r, []byte(`data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":`+string(rune('0'+i))+`}}`)); d != nil {
					t.Fatalf("a progress event denied: %v", d)
				}
			}
			d := pl.Frame(ctx, r, []byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"+tc.result+"}"))
			if (d != nil) != tc.deny {
				t.Errorf("result event denied %v, want %v (%v)", d != nil, tc.deny, d)
			}
			if d != nil && (d.Code != pipeline.CodeForbidden || d.Plugin != "opa") {
				t.Errorf("denial %+v, want policy.forbidden by opa", d)
			}
			if n := dec.calls.Load(); n != tc.evals {
				t.Errorf("%d evaluations, want %d (request, response, and the result event only)", n, tc.evals)
			}
		})
	}
}

func TestFrameMatters(t *testing.T) {
	a2a := &pipeline.Request{A2A: &pipeline.A2A{}}
	mcp := &pipeline.Request{MCP: &pipeline.MCP{}}
	inf := &pipeline.Request{Inference: &pipeline.Inference{}}
	for _, tc := range []struct {
		name    string
		include []string
		r       *pipeline.Request
		frame   string
		want    bool
	}{
		{"mcp result", []string{"mcp.result"}, mcp, `data: {"id":1,"result":{}}`, true},
		{"mcp progress", []string{"mcp.result", "mcp.error"}, mcp, `data: {"method":"notifications/progress"}`, false},
		{"mcp error without mcp.error", []string{"mcp.result"}, mcp, `data: {"id":1,"error":{}}`, false},
		{"mcp error", []string{"mcp.error"}, mcp, `data: {"id":1,"error":{}}`, true},
		{"an escaped key", []string{"mcp.result"}, mcp, `data: {"id":1,"\u0072esult":{}}`, true},
		{"nothing included", nil, mcp, `data: {"id":1,"\u0072esult":{}}`, false},
		{"a2a status", []string{"a2a.content"}, a2a, `data: {"result":{"kind":"status-update","status":{"state":"completed"}}}`, true},
		{"a2a status without a2a.content", []string{"mcp.result"}, a2a, `data: {"result":{"status":{}}}`, false},
		{"inference chunk", []string{"inference.completion"}, inf, `data: {"choices":[{"delta":{"content":"x"}}]}`, true},
		{"inference tool call", []string{"inference.tool_calls"}, inf, `data: {"choices":[{"delta":{"tool_calls":[]}}]}`, true},
		{"inference usage only", []string{"inference.tool_calls"}, inf, `data: {"choices":[],"usage":{}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := newInclude(tc.include)
			if got := inc.frameMatters(tc.r, []byte(tc.frame)); got != tc.want {
				t.Errorf("frameMatters = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	dec := plannerDecider(t)
	in, err := New(&sidecarconfig.OPA{AgentID: planner}, dec, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// The outbound pipeline's opa registers with the same registry.
	if _, err := New(&sidecarconfig.OPA{AgentID: planner}, dec, Options{Registerer: reg}); err != nil {
		t.Fatalf("a second plugin on one registry: %v", err)
	}
	in.OnRequest(t.Context(), inboundCall())
	r := inboundCall()
	r.Peer = nil
	in.OnRequest(t.Context(), r)
	in.OnRequest(t.Context(), r)
	dec.ready.Store(false)
	in.OnRequest(t.Context(), r)
	for result, want := range map[string]float64{"allow": 1, "deny": 2, "not_ready": 1} {
		got := testutil.ToFloat64(in.m.allow[0])
		switch result {
		case "deny":
			got = testutil.ToFloat64(in.m.deny[0])
		case "not_ready":
			got = testutil.ToFloat64(in.m.notReady[0])
		}
		if got != want {
			t.Errorf("inbound/request %s = %v, want %v", result, got, want)
		}
	}
	n, err := testutil.GatherAndCount(reg, "trustsync_sidecar_policy_decisions_total", "trustsync_sidecar_policy_decision_seconds")
	if err != nil {
		t.Fatal(err)
	}
	// 4 points × 3 results, and 4 histograms.
	if n != 16 {
		t.Errorf("%d series, want 16", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP trustsync_sidecar_policy_decisions_total Policy decisions of the sidecar's opa plugin by decision point (inbound/request, ...) and result: allow, deny, not_ready (no policy bundle active yet: 503).
# TYPE trustsync_sidecar_policy_decisions_total counter
trustsync_sidecar_policy_decisions_total{point="inbound/request",result="allow"} 1
trustsync_sidecar_policy_decisions_total{point="inbound/request",result="deny"} 2
trustsync_sidecar_policy_decisions_total{point="inbound/request",result="not_ready"} 1
trustsync_sidecar_policy_decisions_total{point="inbound/response",result="allow"} 0
trustsync_sidecar_policy_decisions_total{point="inbound/response",result="deny"} 0
trustsync_sidecar_policy_decisions_total{point="inbound/response",result="not_ready"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/request",result="allow"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/request",result="deny"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/request",result="not_ready"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/response",result="allow"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/response",result="deny"} 0
trustsync_sidecar_policy_decisions_total{point="outbound/response",result="not_ready"} 0
`), "trustsync_sidecar_policy_decisions_total"); err != nil {
		t.Error(err)
	}
	h := in.m.seconds[0].(prometheus.Histogram)
	if c := testutil.CollectAndCount(h); c != 1 {
		t.Errorf("histogram collected %d", c)
	}
}

// TestInputMatchesThePreviews: the document the plugin builds for a call has every
// field, with the same values, of the one security/policy builds for the previews and
// `trustsync policy eval`, at all four points.
func TestInputMatchesThePreviews(t *testing.T) {
	call := policy.Call{Caller: policy.Party{ID: research, Host: "research-agent.team-a.svc:8000"}, Callee: policy.Party{ID: planner, Host: "planner-agent.team-b.svc:8000"}, PeerID: calendar}
	for _, pt := range policy.Points {
		t.Run(pt.String(), func(t *testing.T) {
			want := call.Input(pt)
			r := &pipeline.Request{
				Direction: pipeline.Direction(pt.Direction), Method: "POST", Host: call.Callee.Host, Path: "/",
				Header: http.Header{"Content-Type": {"application/json"}},
				A2A:    &pipeline.A2A{Method: "message/send", IsAction: true},
			}
			agent := planner
			if pt.Direction == "inbound" {
				r.Identity = &pipeline.Identity{Subject: research, ClientID: research}
				r.Peer = &pipeline.Peer{SPIFFEID: calendar}
			} else {
				agent = research
				// What token exchange leaves (its plugin's tests): the caller's own client
				// ID, the callee as service_id.
				r.Identity = &pipeline.Identity{Subject: research, ClientID: research, ServiceID: planner}
				r.Delegation = &pipeline.Delegation{Origin: research, Actor: research, Chain: []pipeline.Hop{{Audience: planner, Strategy: "token-exchange", Time: time.Unix(0, 0)}}}
				if pt.Phase == "response" {
					r.Peer = &pipeline.Peer{SPIFFEID: calendar}
				}
			}
			if pt.Phase == "response" {
				r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}}
			}
			p, err := New(&sidecarconfig.OPA{AgentID: agent}, plannerDecider(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := doc(t, p, r, pipeline.Phase(pt.Phase), p.agent.Load())
			// The previews' delegation is a stand-in with no hops.
			if d, ok := want["delegation"].(map[string]any); ok {
				delete(d, "chain")
			}
			want = asOPA(t, want).(map[string]any)
			if diff := subset("input", want, got); diff != "" {
				t.Error(diff)
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("input.%s is not in the previews' document", k)
				}
			}
		})
	}
}

// subset says where want has a value got lacks or differs in ("" when none).
func subset(at string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return at + ": not an object"
		}
		for k, v := range w {
			if d := subset(at+"."+k, v, g[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return at + ": not the same array"
		}
		for i := range w {
			if d := subset(at, w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s = %#v, want %#v", at, got, want)
	}
	return ""
}

// TestConstantPointsBuildNoInput: at a point no input can change the plugin takes the
// bundle's one answer without an evaluation; the others are evaluated.
func TestConstantPointsBuildNoInput(t *testing.T) {
	d := newDecider(t, policy.Tiers{Global: []*agentv1.AuthorizationPolicy{policy.DefaultGlobalPolicy(platformNS, false)}})
	p := newPlugin(t, d)
	r := inboundCall()
	if dn := p.OnRequest(t.Context(), r); dn != nil {
		t.Fatalf("denied: %v", dn)
	}
	if d.calls.Load() != 0 {
		t.Errorf("%d evaluations at a constant point", d.calls.Load())
	}
	planner := plannerDecider(t)
	p = newPlugin(t, planner)
	r.Peer = nil // the client tier reads the peer
	if dn := p.OnRequest(t.Context(), r); dn == nil || planner.calls.Load() != 1 {
		t.Errorf("a point with a client tier: %v after %d evaluations", dn, planner.calls.Load())
	}
}
