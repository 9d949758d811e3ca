package opa

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/policy"
)

func richRequest() *pipeline.Request {
	return &pipeline.Request{
		Direction: pipeline.Outbound, Method: "POST", Host: "llm:443", Path: "/v1/chat/completions",
		Header: http.Header{"Content-Type": {"application/json"}},
		A2A: &pipeline.A2A{Method: "message/send", SessionID: "s", TaskID: "t", Role: "user", MessageID: "m",
			Parts: []pipeline.A2APart{{Kind: "text", Content: "hi"}}, FinalStatus: "completed", Artifact: "a", ErrorMessage: "e"},
		MCP: &pipeline.MCP{Method: "tools/call", RPCID: "1", Params: map[string]any{"name": "n", "uri": "u", "arguments": map[string]any{"x": 1}, "_meta": "m"},
			Result: map[string]any{"r": true}, Error: &pipeline.RPCError{Code: -1, Message: "boom", Data: "d"}},
		Inference: &pipeline.Inference{Model: "gpt", Stream: true, MaxTokens: new(int),
			Messages:   []pipeline.Message{{Role: "user", Content: "q"}},
			Tools:      []pipeline.Tool{{Name: "f", Description: "does f", Parameters: map[string]any{"type": "object"}}},
			Completion: "c", ToolCalls: []pipeline.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}},
	}
}

func TestInputIncludes(t *testing.T) {
	for _, tc := range []struct {
		name                string
		include             []string
		a2a, mcp, inference map[string]any
	}{{
		name:      "by default",
		a2a:       map[string]any{"method": "message/send", "session_id": "s", "task_id": "t", "role": "user"},
		mcp:       map[string]any{"method": "tools/call", "params": map[string]any{"name": "n", "uri": "u"}},
		inference: map[string]any{"model": "gpt", "stream": true, "max_tokens": 0, "tools": []any{"f"}},
	}, {
		name:    "everything",
		include: []string{"a2a.content", "mcp.params", "mcp.result", "mcp.error", "inference.completion", "inference.messages", "inference.tool_calls", "inference.tools.detail"},
		a2a: map[string]any{"method": "message/send", "session_id": "s", "task_id": "t", "role": "user",
			"parts": []any{map[string]any{"kind": "text", "content": "hi"}}, "final_status": "completed", "artifact": "a", "error_message": "e"},
		mcp: map[string]any{"method": "tools/call", "params": map[string]any{"name": "n", "uri": "u", "arguments": map[string]any{"x": 1}, "_meta": "m"},
			"result": map[string]any{"r": true}, "error": map[string]any{"code": -1, "message": "boom", "data": "d"}},
		inference: map[string]any{"model": "gpt", "stream": true, "max_tokens": 0,
			"tools":      []any{map[string]any{"name": "f", "description": "does f", "parameters": map[string]any{"type": "object"}}},
			"messages":   []any{map[string]any{"role": "user", "content": "q"}},
			"completion": "c", "tool_calls": []any{map[string]any{"id": "c1", "name": "f", "arguments": "{}"}}},
	}, {
		name:      "one MCP parameter",
		include:   []string{"mcp.params.arguments", "mcp.params.absent"},
		a2a:       map[string]any{"method": "message/send", "session_id": "s", "task_id": "t", "role": "user"},
		mcp:       map[string]any{"method": "tools/call", "params": map[string]any{"name": "n", "uri": "u", "arguments": map[string]any{"x": 1}}},
		inference: map[string]any{"model": "gpt", "stream": true, "max_tokens": 0, "tools": []any{"f"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(&sidecarconfig.OPA{AgentID: planner, Include: tc.include}, plannerDecider(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			in := doc(t, p, richRequest(), pipeline.PhaseRequest, p.agent.Load())
			for k, want := range map[string]map[string]any{"a2a": tc.a2a, "mcp": tc.mcp, "inference": tc.inference} {
				if got, want := in[k], asOPA(t, want); !reflect.DeepEqual(got, want) {
					t.Errorf("input.%s = %#v\nwant %#v", k, got, want)
				}
			}
		})
	}
}

func TestInputFields(t *testing.T) {
	p, err := New(&sidecarconfig.OPA{AgentID: research}, plannerDecider(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.FixedZone("x", 3600))
	r := &pipeline.Request{
		Direction: pipeline.Outbound, Method: "GET", Host: "h:80", Path: "/p",
		Header:     http.Header{"X-Multi": {"1", "2"}, "x-multi": {"3"}, "Authorization": {"Bearer t"}, "authorization": {"Bearer t"}, "Cookie": {"c"}, "X-Empty": {}},
		Identity:   &pipeline.Identity{Subject: "s", ClientID: "c", Scopes: []string{"a"}, ServiceID: "svc"},
		Delegation: &pipeline.Delegation{Origin: "o", Actor: "a", Chain: []pipeline.Hop{{SubjectID: "s", Audience: "aud", Scopes: []string{"x"}, Strategy: "token-exchange", FromCache: true, Time: at}}},
		Peer:       &pipeline.Peer{SPIFFEID: planner},
		Response:   &pipeline.Response{StatusCode: 201, Header: http.Header{"Set-Cookie": {"s"}, "Content-Type": {"text/plain"}}},
	}
	want := map[string]any{
		"direction": "outbound", "method": "GET", "host": "h:80", "path": "/p",
		"headers":  map[string]any{"x-multi": "1, 2, 3"},
		"agent":    map[string]any{"client_id": research},
		"identity": map[string]any{"subject": "s", "client_id": "c", "scopes": []any{"a"}, "service_id": "svc"},
		"delegation": map[string]any{"origin": "o", "actor": "a", "depth": 1, "chain": []any{map[string]any{
			"subject_id": "s", "audience": "aud", "scopes": []any{"x"}, "strategy": "token-exchange", "from_cache": true, "timestamp": "2026-12-02T09:00:00Z"}}},
		"peer":     map[string]any{"spiffe_id": planner},
		"response": map[string]any{"status_code": 201, "headers": map[string]any{"content-type": "text/plain"}},
	}
	got := doc(t, p, r, pipeline.PhaseResponse, p.agent.Load())
	// The two spellings of x-multi join in map order.
	if h := got["headers"].(map[string]any); h["x-multi"] == "3, 1, 2" {
		h["x-multi"] = "1, 2, 3"
	}
	if want := asOPA(t, want); !reflect.DeepEqual(got, want) {
		t.Errorf("input = %#v\nwant    %#v", got, want)
	}
	if _, ok := doc(t, p, r, pipeline.PhaseRequest, nil)["response"]; ok {
		t.Error("input.response at the request phase")
	}
}

// BenchmarkInboundDecision is one inbound request through the plugin: the input
// document and the three-tier decision.
func BenchmarkInboundDecision(b *testing.B) {
	dec := plannerDecider(b)
	p := newPlugin(b, dec)
	ctx := context.Background()
	r := inboundCall()
	if d := p.OnRequest(ctx, r); d != nil {
		b.Fatal(d)
	}
	b.Run("decision", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := p.OnRequest(ctx, r); d != nil {
				b.Fatal(d)
			}
		}
	})
	// The evaluation alone, on a document built once: what the plugin adds is the rest.
	b.Run("evaluation", func(b *testing.B) {
		b.ReportAllocs()
		in, err := p.input(r, pipeline.PhaseRequest, p.agent.Load(), policy.Fields{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if !dec.d.Decide(ctx, points[0], in).Allow {
				b.Fatal("denied")
			}
		}
	})
	b.Run("input", func(b *testing.B) {
		b.ReportAllocs()
		agent := p.agent.Load()
		for b.Loop() {
			if _, err := p.input(r, pipeline.PhaseRequest, agent, policy.Fields{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// doc is the input document p builds, as Go values the way OPA gives a value back
// (numbers as json.Number).
func doc(t testing.TB, p *Plugin, r *pipeline.Request, ph pipeline.Phase, agent *ast.Term) map[string]any {
	t.Helper()
	in, err := p.input(r, ph, agent, policy.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := ast.JSON(in)
	if err != nil {
		t.Fatal(err)
	}
	return x.(map[string]any)
}

// asOPA is x as OPA reads a Go input document, in doc's Go form: what the document
// must be, written as Go values.
func asOPA(t testing.TB, x any) any {
	t.Helper()
	if err := util.RoundTripFast(&x); err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := ast.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestDecoded: the values the parsers decode become what OPA makes of them as part of
// a Go input document, and what OPA cannot convert is OPA's error.
func TestDecoded(t *testing.T) {
	deep := any("leaf")
	for range maxDecodedDepth + 5 {
		deep = []any{deep}
	}
	for _, tc := range []struct {
		name string
		x    any
	}{
		{"null", nil},
		{"a string", "s"},
		{"a boolean", false},
		{"a JSON number", json.Number("12345678901234567890.5")},
		{"a float", 1e21},
		{"an int", 7},
		{"a nil map", map[string]any(nil)},
		{"a nil slice", []any(nil)},
		{"a typed slice", []string{"a", "b"}},
		{"a struct", struct{ A int }{A: 1}},
		{"nested", map[string]any{"a": []any{json.Number("1"), map[string]any{"b": nil, "c": true}}, "d": map[string]any{}}},
		{"deeper than it converts itself", deep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := opaConverted(tc.x)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decoded(tc.x)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) || got.String() != want.String() {
				t.Errorf("decoded %s, want %s", got, want)
			}
		})
	}
	for _, x := range []any{make(chan int), map[string]any{"a": []any{func() {}}}} {
		_, want := opaConverted(x)
		if _, err := decoded(x); err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("decoded(%v): error %v, want %v", x, err, want)
		}
	}
}

// TestHeaderSpellings: a name in two spellings is one field with both values, whether
// the spellings are common names or not, in either order.
func TestHeaderSpellings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   map[string]any
	}{
		{"common and not", http.Header{"Content-Type": {"a"}, "content-type": {"b"}}, map[string]any{"content-type": "a, b"}},
		{"two uncommon", http.Header{"X-Thing": {"a"}, "x-thing": {"b", "c"}, "X-Other": {"d"}}, map[string]any{"x-thing": "a, b, c", "x-other": "d"}},
		{"credentials in any spelling", http.Header{"authorization": {"x"}, "COOKIE": {"y"}, "Accept": {"*/*"}}, map[string]any{"accept": "*/*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 { // the map's order varies
				x, err := ast.JSON(headers(tc.header).Value)
				if err != nil {
					t.Fatal(err)
				}
				got := x.(map[string]any)
				for k, v := range got {
					if w, ok := tc.want[k].(string); ok && len(v.(string)) == len(w) {
						got[k] = w // the order of the spellings is the map's
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("headers %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestUnconvertibleValue: a parsed value OPA cannot convert is the deny OPA's own
// conversion of the document gave.
func TestUnconvertibleValue(t *testing.T) {
	d := plannerDecider(t)
	p := newPlugin(t, d, "mcp.params")
	r := inboundCall()
	r.MCP.Params["arguments"] = map[string]any{"q": make(chan int)}
	want := d.d.Decide(context.Background(), points[0], map[string]any{"mcp": map[string]any{"params": r.MCP.Params}})
	deny := p.OnRequest(context.Background(), r)
	if want.Allow || deny == nil || deny.Message != want.Reason || !strings.Contains(deny.Message, "the policy failed to evaluate: ") {
		t.Errorf("deny %+v, want one saying %q", deny, want.Reason)
	}
}

// TestConcurrentDocuments: documents that share the agent and the field names are
// decided concurrently (run with -race), each as it is decided alone.
func TestConcurrentDocuments(t *testing.T) {
	p := newPlugin(t, plannerDecider(t))
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		edit  func(*pipeline.Request)
		allow bool
	}{
		{"allowed", func(*pipeline.Request) {}, true},
		{"another tool", func(r *pipeline.Request) { r.MCP.Params = map[string]any{"name": "delete"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 25 {
						r := inboundCall()
						tc.edit(r)
						if deny := p.OnRequest(ctx, r); (deny == nil) != tc.allow {
							t.Errorf("deny %+v, want allow=%v", deny, tc.allow)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestInputHasWhatThePolicyReads: the plugin builds only the fields the point's rules
// can read (planner-agent's outbound request rule reads input.mcp alone), and the
// decision is the one the whole document gets.
func TestInputHasWhatThePolicyReads(t *testing.T) {
	dec := plannerDecider(t)
	p := newPlugin(t, dec)
	r, agent := richRequest(), p.agent.Load()
	pt := points[pointIndex(pipeline.Outbound, pipeline.PhaseRequest)]
	var built ast.Value
	got := dec.d.DecideInput(t.Context(), pt, func(f policy.Fields) (ast.Value, error) {
		v, err := p.input(r, pipeline.PhaseRequest, agent, f)
		built = v
		return v, err
	})
	keys := built.(ast.Object).Keys()
	if len(keys) != 1 || !keys[0].Equal(ast.StringTerm("mcp")) {
		t.Errorf("built the input fields %v, want mcp alone", keys)
	}
	whole, err := p.input(r, pipeline.PhaseRequest, agent, policy.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	if want := dec.d.Decide(t.Context(), pt, whole); got != want || !got.Allow {
		t.Errorf("decided %v on the fields read, %v on the whole input; want both allowed", got, want)
	}
}
