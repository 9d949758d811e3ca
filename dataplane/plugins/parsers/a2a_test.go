package parsers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

func TestA2ARequest(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       *pipeline.A2A
	}{{
		name: "message/send with parts",
		body: `{"jsonrpc":"2.0","id":7,"method":"message/send","params":{"message":{"role":"user","messageId":"m1","contextId":"ctx-m","taskId":"t1","parts":[` +
			`{"kind":"text","text":"hello"},{"kind":"file","file":{"uri":"https://x/y.pdf"}},{"kind":"file","file":{"bytes":"QUJD","uri":"ignored"}},{"kind":"data","data":{ "a" : [1, 2] }},{"type":"text","text":"old spelling"}]}}}`,
		want: &pipeline.A2A{Method: "message/send", RPCID: json.Number("7"), SessionID: "ctx-m", TaskID: "t1", Role: "user", MessageID: "m1", IsAction: true, Parts: []pipeline.A2APart{
			{Kind: "text", Content: "hello"}, {Kind: "file", Content: "https://x/y.pdf"}, {Kind: "file", Content: "QUJD"}, {Kind: "data", Content: `{"a":[1,2]}`}, {Kind: "text", Content: "old spelling"},
		}},
	}, {
		name: "contextId before sessionId before the message's",
		body: `{"jsonrpc":"2.0","id":"a","method":"message/stream","params":{"contextId":"c1","sessionId":"s1","message":{"contextId":"c2"}}}`,
		want: &pipeline.A2A{Method: "message/stream", RPCID: "a", SessionID: "c1", IsAction: true},
	}, {
		name: "sessionId before the message's",
		body: `{"jsonrpc":"2.0","id":"a","method":"message/send","params":{"sessionId":"s1","message":{"contextId":"c2"}}}`,
		want: &pipeline.A2A{Method: "message/send", RPCID: "a", SessionID: "s1", IsAction: true},
	}, {
		name: "tasks/get names the task by id",
		body: `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"task-9"}}`,
		want: &pipeline.A2A{Method: "tasks/get", RPCID: json.Number("1"), TaskID: "task-9"},
	}, {
		name: "agent/ methods are A2A",
		body: `{"jsonrpc":"2.0","id":1,"method":"agent/getAuthenticatedExtendedCard"}`,
		want: &pipeline.A2A{Method: "agent/getAuthenticatedExtendedCard", RPCID: json.Number("1")},
	}, {
		name: "a field of the wrong type does not hide the call",
		body: `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"contextId":42,"message":{"role":"user"}}}`,
		want: &pipeline.A2A{Method: "message/send", RPCID: json.Number("1"), Role: "user", IsAction: true},
	}, {
		name: "an MCP call is not A2A",
		body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`,
	}, {
		name: "not JSON",
		body: `message/send`,
	}, {
		name: "malformed",
		body: `{"method":"message/send",`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, denies := exchange(NewA2A(), "POST", "/", tc.body, "")
			if !noDenies(denies) {
				t.Fatalf("a parser denied: %v", denies)
			}
			if !reflect.DeepEqual(r.A2A, tc.want) {
				t.Errorf("A2A = %+v\nwant  %+v", r.A2A, tc.want)
			}
		})
	}
}

const a2aSend = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"role":"user","parts":[{"kind":"text","text":"hi"}]}}}`

func TestA2AResponse(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		frames     []string
		status     string
		artifact   string
		errMsg     string
		session    string
		task       string
	}{{
		name:     "a completed task with artifacts",
		resp:     `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t1","contextId":"c1","status":{"state":"completed"},"artifacts":[{"parts":[{"kind":"text","text":"the "},{"kind":"data","data":{}},{"kind":"text","text":"answer"}]}]}}`,
		status:   "completed",
		artifact: "the answer",
		session:  "c1",
		task:     "t1",
	}, {
		name:     "a message result",
		resp:     `{"jsonrpc":"2.0","id":1,"result":{"kind":"message","role":"agent","contextId":"c1","parts":[{"kind":"text","text":"hello back"}]}}`,
		artifact: "hello back",
		session:  "c1",
	}, {
		name:   "a failed task's text is the error message",
		resp:   `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t1","status":{"state":"failed","message":{"role":"agent","parts":[{"kind":"text","text":"tool crashed"}]}}}}`,
		status: "failed",
		errMsg: "tool crashed",
		task:   "t1",
	}, {
		name:   "a JSON-RPC error",
		resp:   `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Task not found"}}`,
		errMsg: "Task not found",
	}, {
		name: "streamed: status updates, then artifact chunks",
		frames: []string{
			sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1","contextId":"c1","status":{"state":"working"},"final":false}}`),
			"event: message\n" + sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"artifact-update","taskId":"t1","artifact":{"parts":[{"kind":"text","text":"part one, "}]}}}`),
			": a comment\n" + sse(`{"jsonrpc":"2.0","id":1,`, `"result":{"kind":"artifact-update","taskId":"t1","artifact":{"parts":[{"kind":"text","text":"part two"}]},"append":true}}`),
			sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1","status":{"state":"completed"},"final":true}}`),
			sse(`[DONE]`),
		},
		status:   "completed",
		artifact: "part one, part two",
		session:  "c1",
		task:     "t1",
	}, {
		name:     "a buffered event stream",
		resp:     sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1","status":{"state":"working"}}}`) + "\n\n" + sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"artifact-update","artifact":{"parts":[{"kind":"text","text":"x"}]}}}`) + "\r\n\r\n" + sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","status":{"state":"completed"}}}`) + "\n\n",
		status:   "completed",
		artifact: "x",
		task:     "t1",
	}, {
		name: "a response that is not JSON changes nothing",
		resp: `<html>bad gateway</html>`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, denies := exchange(NewA2A(), "POST", "/", a2aSend, tc.resp, tc.frames...)
			if !noDenies(denies) {
				t.Fatalf("a parser denied: %v", denies)
			}
			a := r.A2A
			if a.FinalStatus != tc.status || a.Artifact != tc.artifact || a.ErrorMessage != tc.errMsg || a.SessionID != tc.session || a.TaskID != tc.task {
				t.Errorf("got status %q artifact %q error %q session %q task %q\nwant       %q          %q       %q         %q      %q",
					a.FinalStatus, a.Artifact, a.ErrorMessage, a.SessionID, a.TaskID, tc.status, tc.artifact, tc.errMsg, tc.session, tc.task)
			}
			if a.Method != "message/send" || len(a.Parts) != 1 {
				t.Errorf("the response changed the request's fields: %+v", a)
			}
		})
	}
}

func TestA2AArtifactIsCapped(t *testing.T) {
	chunk := strings.Repeat("é", 1000) // 2 bytes a rune, so a cut can fall inside one
	frame := sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"artifact-update","artifact":{"parts":[{"kind":"text","text":"x` + chunk + `"}]}}}`)
	frames := make([]string, 100)
	for i := range frames {
		frames[i] = frame
	}
	r, _ := exchange(NewA2A(), "POST", "/", a2aSend, "", frames...)
	if n := len(r.A2A.Artifact); n > maxText || n < maxText-4 {
		t.Fatalf("artifact is %d bytes, want at most %d and close to it", n, maxText)
	}
	if !utf8.ValidString(r.A2A.Artifact) {
		t.Errorf("the cap cut a rune: ends %q", r.A2A.Artifact[len(r.A2A.Artifact)-3:])
	}
}

func TestA2AResponseWithoutRequestIsIgnored(t *testing.T) {
	r, _ := exchange(NewA2A(), "POST", "/", `{"hello":1}`, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","status":{"state":"completed"}}}`,
		sse(`{"jsonrpc":"2.0","id":1,"result":{"kind":"task","status":{"state":"completed"}}}`))
	if r.A2A != nil {
		t.Errorf("A2A = %+v for a request that was no A2A call", r.A2A)
	}
}
