package parsers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

func TestMCPRequest(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		want                     *pipeline.MCP
		// batch is the number of MCP calls of a batch; deny that the parser refuses it.
		batch int
		deny  bool
	}{{
		name: "tools/call",
		body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Oslo","days":2.5}}}`,
		want: &pipeline.MCP{Method: "tools/call", RPCID: json.Number("3"), IsAction: true, Params: map[string]any{
			"name": "get_weather", "arguments": map[string]any{"city": "Oslo", "days": json.Number("2.5")},
		}},
	}, {
		name: "a string id stays a string",
		body: `{"jsonrpc":"2.0","id":"req-1","method":"resources/read","params":{"uri":"file:///etc/x"}}`,
		want: &pipeline.MCP{Method: "resources/read", RPCID: "req-1", IsAction: true, Params: map[string]any{"uri": "file:///etc/x"}},
	}, {
		name: "a notification has no id",
		body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		want: &pipeline.MCP{Method: "notifications/initialized"},
	}, {
		name: "initialize and ping are MCP",
		body: `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`,
		want: &pipeline.MCP{Method: "initialize", RPCID: json.Number("0"), Params: map[string]any{"protocolVersion": "2025-06-18"}},
	}, {
		name: "params nested too deep keep their name",
		body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":` + deep + `}}`,
		want: &pipeline.MCP{Method: "tools/call", RPCID: json.Number("1"), IsAction: true, Params: map[string]any{"name": "t"}},
	}, {
		name:  "a batch keeps its first action",
		body:  `[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}},{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ls"}}]`,
		want:  &pipeline.MCP{Method: "tools/call", RPCID: json.Number("2"), IsAction: true, Params: map[string]any{"name": "rm"}},
		batch: 4,
	}, {
		name:  "a batch without an action keeps its first MCP element",
		body:  `[1, {"jsonrpc":"2.0","id":9,"method":"message/send"}, {"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`,
		want:  &pipeline.MCP{Method: "tools/list", RPCID: json.Number("1")},
		batch: 2,
	}, {
		name: "an MCP batch over the bound is refused: its calls would reach no policy",
		body: "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"notifications/x"},`, maxBatch) + `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm"}}]`,
		deny: true,
	}, {
		name: "another JSON array of any length is no MCP",
		body: "[" + strings.Repeat(`{"id":1},`, maxBatch) + `{"id":2}]`,
	}, {
		name:  "a batch at the bound is",
		body:  "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"notifications/x"},`, maxBatch-1) + `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm"}}]`,
		want:  &pipeline.MCP{Method: "tools/call", RPCID: json.Number("1"), IsAction: true, Params: map[string]any{"name": "rm"}},
		batch: maxBatch,
	}, {
		name:   "GET on an MCP path opens the stream",
		method: "GET", path: "/mcp",
		want: &pipeline.MCP{Method: MethodStream},
	}, {
		name:   "GET elsewhere is nothing",
		method: "GET", path: "/other",
	}, {
		name:   "DELETE with the session terminates it",
		method: "DELETE", path: "/mcp", header: map[string]string{"Mcp-Session-Id": "s1"},
		want: &pipeline.MCP{Method: MethodTerminate},
	}, {
		name:   "DELETE without a session is nothing",
		method: "DELETE", path: "/mcp",
	}, {
		name: "an A2A call is not MCP",
		body: `{"jsonrpc":"2.0","id":1,"method":"message/send"}`,
	}, {
		name: "a method outside the namespace",
		body: `{"jsonrpc":"2.0","id":1,"method":"toolsX/call"}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method, path = "POST", "/anything"
			}
			p := NewMCP(&sidecarconfig.MCPParser{Paths: []string{"/mcp"}})
			r := &pipeline.Request{Method: method, Path: path, Header: map[string][]string{}}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if tc.body != "" {
				r.Body = []byte(tc.body)
			}
			d := p.OnRequest(t.Context(), r)
			if (d != nil) != tc.deny {
				t.Fatalf("deny %v, want a denial: %v", d, tc.deny)
			}
			if r.MCP != nil {
				if len(r.MCP.Batch) != tc.batch {
					t.Errorf("%d calls in the batch, want %d", len(r.MCP.Batch), tc.batch)
				}
				r.MCP.Batch = nil
			}
			if !reflect.DeepEqual(r.MCP, tc.want) {
				t.Errorf("MCP = %#v\nwant  %#v", r.MCP, tc.want)
			}
		})
	}
}

// TestMCPIDRoundTrips: the id goes back into a JSON-RPC error reply as written.
func TestMCPIDRoundTrips(t *testing.T) {
	for _, id := range []string{`1`, `-0.5e3`, `12345678901234567890`, `"x"`, `"\u00e9"`} {
		r, _ := exchange(NewMCP(nil), "POST", "/mcp", `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call"}`, "")
		got, err := json.Marshal(r.MCP.RPCID)
		if err != nil {
			t.Fatal(err)
		}
		var want, back any
		_ = json.Unmarshal([]byte(id), &want)
		_ = json.Unmarshal(got, &back)
		if !reflect.DeepEqual(want, back) || (id[0] != '"' && string(got) != id) {
			t.Errorf("id %s came back as %s", id, got)
		}
	}
}

const mcpCall = `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search"}}`

func TestMCPResponse(t *testing.T) {
	for _, tc := range []struct {
		name, req, resp string
		frames          []string
		result          map[string]any
		err             *pipeline.RPCError
	}{{
		name:   "a JSON result",
		resp:   `{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"found"}],"isError":false}}`,
		result: map[string]any{"content": []any{map[string]any{"type": "text", "text": "found"}}, "isError": false},
	}, {
		name: "a JSON error",
		resp: `{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"unknown tool","data":{"tool":"search"}}}`,
		err:  &pipeline.RPCError{Code: -32602, Message: "unknown tool", Data: map[string]any{"tool": "search"}},
	}, {
		name: "an error with a null id answers too",
		resp: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`,
		err:  &pipeline.RPCError{Code: -32700, Message: "parse error"},
	}, {
		name: "a response to another id is not the answer",
		resp: `{"jsonrpc":"2.0","id":6,"result":{"x":1}}`,
	}, {
		name: "a string id does not answer a number id",
		resp: `{"jsonrpc":"2.0","id":"5","result":{"x":1}}`,
	}, {
		name: "streamed: notifications and the server's requests are skipped, the response read",
		frames: []string{
			sse(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`),
			sse(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{"result":"not this"}}`),
			"event: message\nid: 3\n" + sse(`{"jsonrpc":"2.0","id":5,"result":{"ok":true}}`),
			sse(`{"jsonrpc":"2.0","id":5,"result":{"ok":false}}`),
		},
		result: map[string]any{"ok": true},
	}, {
		name:   "streamed with escaped keys",
		frames: []string{sse(`{"jsonrpc":"2.0","id":5,"\u0072esult":{"ok":1}}`)},
		result: map[string]any{"ok": json.Number("1")},
	}, {
		name: "a buffered event stream",
		resp: sse(`{"jsonrpc":"2.0","method":"notifications/progress"}`) + "\n\n" + sse(`{"jsonrpc":"2.0","id":5,"error":{"code":1.0,"message":"m"}}`) + "\n\n",
		err:  &pipeline.RPCError{Code: 1, Message: "m"},
	}, {
		name:   "a batch's response: the kept call's answer",
		req:    `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]`,
		resp:   `[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}},{"jsonrpc":"2.0","id":2,"result":{"called":"x"}}]`,
		result: map[string]any{"called": "x"},
	}, {
		name: "a notification awaits no response",
		req:  `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		resp: `{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req == "" {
				req = mcpCall
			}
			r, denies := exchange(NewMCP(nil), "POST", "/mcp", req, tc.resp, tc.frames...)
			if !noDenies(denies) {
				t.Fatalf("a parser denied: %v", denies)
			}
			if !reflect.DeepEqual(r.MCP.Result, tc.result) || !reflect.DeepEqual(r.MCP.Error, tc.err) {
				t.Errorf("result %#v error %#v\nwant   %#v       %#v", r.MCP.Result, r.MCP.Error, tc.result, tc.err)
			}
		})
	}
}

// TestMCPBufferedStreamIsBounded: at most 50 events of a buffered stream are read.
func TestMCPBufferedStreamIsBounded(t *testing.T) {
	note := sse(`{"jsonrpc":"2.0","method":"notifications/progress"}`) + "\n\n"
	answer := sse(`{"jsonrpc":"2.0","id":5,"result":{}}`) + "\n\n"
	r, _ := exchange(NewMCP(nil), "POST", "/mcp", mcpCall, strings.Repeat(note, maxEvents-1)+answer)
	if r.MCP.Result == nil {
		t.Fatal("the 50th event was not read")
	}
	r, _ = exchange(NewMCP(nil), "POST", "/mcp", mcpCall, strings.Repeat(note, maxEvents)+answer)
	if r.MCP.Result != nil {
		t.Fatal("the 51st event was read")
	}
}
