package opa

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/parsers"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/policy"
)

// FuzzInput builds the OPA input document of a hostile exchange — any method, path,
// header, and MCP, A2A or inference body as the parsers decode it — with every field
// included: it never panics, it is an object or an error, and it never carries the
// credentials of the request.
func FuzzInput(f *testing.F) {
	f.Add("POST", "/mcp", "X-Custom", "v", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"n","arguments":{"a":[1,{"b":null}]}}}`), []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	f.Add("POST", "/", "Cookie", "c=1", []byte(`{"jsonrpc":"2.0","id":"x","method":"message/send","params":{"message":{"parts":[{"kind":"text","text":"hi"}]}}}`), []byte(`{}`))
	f.Add("POST", "/v1/chat/completions", "content-type", "application/json", []byte(`{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{"function":{"name":"f"}}]}`), []byte(`{"choices":[{"message":{"content":"c"}}]}`))
	f.Add("GET", "/\x00\xff", "X-\xff", "\x00", []byte(`{"id":1e400,"method":{}}`), []byte("not json"))
	everything := []string{"a2a.content", "mcp.params", "mcp.result", "mcp.error", "inference.completion", "inference.messages", "inference.tool_calls", "inference.tools.detail"}
	p, err := New(&sidecarconfig.OPA{AgentID: planner, Include: everything}, plannerDecider(f), Options{})
	if err != nil {
		f.Fatal(err)
	}
	const secret = "Bearer fuzz-secret-token"
	f.Fuzz(func(t *testing.T, method, path, name, value string, body, resp []byte) {
		ctx := context.Background()
		r := &pipeline.Request{
			Direction: pipeline.Inbound, Method: method, Path: path, Host: "agent:8080",
			Header: http.Header{"Authorization": {secret}, "Proxy-Authorization": {secret}}, Body: body,
			Identity: &pipeline.Identity{Subject: value, ClientID: name, Scopes: []string{value}},
			Peer:     &pipeline.Peer{SPIFFEID: path},
		}
		r.Header.Add(name, value)
		parse := []interface {
			pipeline.RequestHandler
			pipeline.ResponseHandler
		}{parsers.NewMCP(nil), parsers.NewA2A(), parsers.NewInference()}
		for _, h := range parse {
			_ = h.OnRequest(ctx, r)
		}
		r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{"Set-Cookie": {secret}}, Body: resp}
		for _, h := range parse {
			_ = h.OnResponse(ctx, r)
		}
		// The fuzzer's own strings may spell the secret; only the request's may not leak.
		leakable := !strings.Contains(method+path+name+value+string(body)+string(resp), "fuzz-secret-token")
		for _, ph := range []pipeline.Phase{pipeline.PhaseRequest, pipeline.PhaseResponse} {
			v, err := p.input(r, ph, agentTerm(planner), policy.Fields{})
			if err != nil {
				continue // an OPA conversion error: the decision is a deny
			}
			if _, ok := v.(ast.Object); !ok {
				t.Fatalf("the input is a %T, want an object", v)
			}
			if leakable && strings.Contains(v.String(), "fuzz-secret-token") {
				t.Fatalf("the input carries the request's credentials: %s", v)
			}
		}
	})
}
