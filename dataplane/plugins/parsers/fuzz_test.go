package parsers

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// fuzzExchange runs p over a hostile request, buffered response and frame, and checks
// what holds whatever the input: no denial, no panic, the id marshals back, the text
// caps hold.
func fuzzExchange(t *testing.T, p plugin, method, path string, body, resp, frame []byte) {
	ctx := context.Background()
	r := &pipeline.Request{Method: method, Path: path, Header: http.Header{"Mcp-Session-Id": {"s"}}, Body: body}
	if p.OnRequest(ctx, r) != nil {
		t.Fatal("OnRequest denied")
	}
	r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{}, Body: resp}
	if p.OnResponse(ctx, r) != nil {
		t.Fatal("OnResponse denied")
	}
	for range 3 {
		if p.OnFrame(ctx, r, frame) != nil {
			t.Fatal("OnFrame denied")
		}
	}
	if r.MCP != nil {
		if _, err := json.Marshal(r.MCP.RPCID); err != nil {
			t.Fatalf("the MCP id %#v does not marshal: %v", r.MCP.RPCID, err)
		}
	}
	if r.A2A != nil && len(r.A2A.Artifact) > maxText {
		t.Fatalf("artifact of %d bytes", len(r.A2A.Artifact))
	}
	if in := r.Inference; in != nil {
		if len(in.Completion) > maxText || len(in.ToolCalls) > maxToolCalls {
			t.Fatalf("completion of %d bytes, %d tool calls", len(in.Completion), len(in.ToolCalls))
		}
	}
}

func FuzzA2A(f *testing.F) {
	f.Add([]byte(a2aSend), []byte(`{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","status":{"state":"failed","message":{"parts":[{"kind":"text","text":"x"}]}},"artifacts":[{"parts":[{"text":"a"}]}]}}`),
		[]byte(sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"artifact-update","artifact":{"parts":[{"kind":"text","text":"y"}]}}}`)))
	f.Add([]byte(`{"method":"tasks/get","id":"x","params":{"id":"t","message":{"parts":[{"kind":"data","data":[[[[]]]]},{"file":{}}]}}}`), []byte(sse("a")+"\n\n"+sse("[DONE]")), []byte("data:\ndata: {"))
	f.Fuzz(func(t *testing.T, body, resp, frame []byte) {
		fuzzExchange(t, NewA2A(), "POST", "/", body, resp, frame)
	})
}

func FuzzMCP(f *testing.F) {
	f.Add([]byte(mcpCall), []byte(`{"jsonrpc":"2.0","id":5,"result":{"a":[1,{"b":null}]}}`), []byte(sse(`{"jsonrpc":"2.0","id":5,"error":{"code":1e400,"message":"m","data":[]}}`)))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":-1.5e-3,"method":"tools/call","params":{"name":1}},2,[]]`), []byte(`[{"id":-1.5e-3,"result":7}]`), []byte(`data: {"id":"\u0035","result":{}}`))
	f.Add([]byte(""), []byte("data: x\r\n\r\ndata: y"), []byte(""))
	f.Fuzz(func(t *testing.T, body, resp, frame []byte) {
		fuzzExchange(t, NewMCP(nil), "POST", "/mcp", body, resp, frame)
		fuzzExchange(t, NewMCP(nil), "DELETE", "/mcp", body, resp, frame)
	})
}

func FuzzInference(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":1e9,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"function":{"name":"f","parameters":{}}},{"name":"g"}]}`),
		[]byte(`{"choices":[{"index":0,"message":{"content":"x","tool_calls":[{"index":-1}]}}]}`),
		[]byte(sse(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`)))
	f.Add([]byte(`{"system":"s","prompt":[1,"a",{"type":"text"}]}`), []byte(`{"type":"message","content":[{"type":"tool_use","input":[[[]]]}]}`),
		[]byte(sse(`{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"x"}}`)))
	f.Fuzz(func(t *testing.T, body, resp, frame []byte) {
		fuzzExchange(t, NewInference(), "POST", "/v1/chat/completions", body, resp, frame)
		fuzzExchange(t, NewInference(), "POST", "/v1/messages", body, resp, frame)
		fuzzExchange(t, NewInference(), "POST", "/v1/completions", body, resp, frame)
	})
}
