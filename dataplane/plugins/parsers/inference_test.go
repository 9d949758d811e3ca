package parsers

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

func ptr[T any](v T) *T { return &v }

func TestInferenceRequest(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		want             *pipeline.Inference
	}{{
		name: "OpenAI chat with function tools",
		path: "/v1/chat/completions",
		body: `{"model":"gpt-4o","temperature":0.2,"max_tokens":256,"top_p":0.9,"stream":true,
			"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"look at"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"this"}]}],
			"tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
			"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`,
		want: &pipeline.Inference{
			Model: "gpt-4o", Temperature: ptr(0.2), MaxTokens: ptr(256), TopP: ptr(0.9), Stream: true,
			Messages: []pipeline.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "look at\nthis"}},
			Tools: []pipeline.Tool{{Name: "get_weather", Description: "weather", Parameters: map[string]any{
				"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}},
			ToolChoice: map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}},
		},
	}, {
		name: "under a gateway's prefix, max_completion_tokens",
		path: "/openai/v1/chat/completions",
		body: `{"model":"m","max_completion_tokens":9,"messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}`,
		want: &pipeline.Inference{Model: "m", MaxTokens: ptr(9), Messages: []pipeline.Message{{Role: "user", Content: "hi"}}, ToolChoice: "auto"},
	}, {
		name: "OpenAI completions' prompt",
		path: "/v1/completions",
		body: `{"model":"m","prompt":["a","b"]}`,
		want: &pipeline.Inference{Model: "m", Messages: []pipeline.Message{{Role: "user", Content: "a\nb"}}},
	}, {
		name: "Anthropic messages with system and tools",
		path: "/v1/messages",
		body: `{"model":"claude","max_tokens":1024,"system":[{"type":"text","text":"sys"}],
			"messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"t","content":"r"}]}],
			"tools":[{"name":"calc","description":"adds","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
		want: &pipeline.Inference{
			Model: "claude", MaxTokens: ptr(1024),
			Messages:   []pipeline.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "q"}},
			Tools:      []pipeline.Tool{{Name: "calc", Description: "adds", Parameters: map[string]any{"type": "object"}}},
			ToolChoice: map[string]any{"type": "any"},
		},
	}, {
		name: "another path",
		path: "/v1/embeddings",
		body: `{"model":"m","input":"x"}`,
	}, {
		name: "a path that only contains the API's",
		path: "/v1/messages/batches",
		body: `{"model":"m"}`,
	}, {
		name: "not JSON",
		path: "/v1/messages",
		body: `model=m`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, denies := exchange(NewInference(), "POST", tc.path, tc.body, "")
			if !noDenies(denies) {
				t.Fatalf("a parser denied: %v", denies)
			}
			if !reflect.DeepEqual(r.Inference, tc.want) {
				t.Errorf("Inference = %+v\nwant        %+v", r.Inference, tc.want)
			}
		})
	}
}

func TestInferenceResponse(t *testing.T) {
	type out struct {
		Completion, FinishReason string
		Prompt, Completed, Total int
		ToolCalls                []pipeline.ToolCall
	}
	for _, tc := range []struct {
		name, path, resp string
		frames           []string
		want             out
	}{{
		name: "OpenAI chat completion with a tool call",
		path: "/v1/chat/completions",
		resp: `{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"ok","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},"finish_reason":"tool_calls"},{"index":1,"message":{"content":"alternative"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`,
		want: out{Completion: "ok", FinishReason: "tool_calls", Prompt: 10, Completed: 5, Total: 15, ToolCalls: []pipeline.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
	}, {
		name: "OpenAI chat chunks",
		path: "/v1/chat/completions",
		frames: []string{
			sse(`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`),
			sse(`{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}`),
			sse(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]}`),
			sse(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}`),
			sse(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}},{"index":1,"id":"call_2","function":{"name":"g"}}]}}]}`),
			sse(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":5,"id":"out_of_order"}]}}]}`),
			sse(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`),
			sse(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`),
			sse(`[DONE]`),
		},
		want: out{Completion: "Hello", FinishReason: "tool_calls", Prompt: 3, Completed: 4, Total: 7, ToolCalls: []pipeline.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"a":1}`}, {ID: "call_2", Name: "g"}}},
	}, {
		name: "OpenAI completions",
		path: "/v1/completions",
		resp: `{"choices":[{"index":0,"text":"done","finish_reason":"stop"}]}`,
		want: out{Completion: "done", FinishReason: "stop"},
	}, {
		name: "Anthropic message",
		path: "/v1/messages",
		resp: `{"type":"message","role":"assistant","content":[{"type":"text","text":"I'll add."},{"type":"tool_use","id":"tu_1","name":"calc","input":{"a":1,"b":2}}],"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":8}}`,
		want: out{Completion: "I'll add.", FinishReason: "tool_use", Prompt: 20, Completed: 8, Total: 28, ToolCalls: []pipeline.ToolCall{{ID: "tu_1", Name: "calc", Arguments: `{"a":1,"b":2}`}}},
	}, {
		name: "Anthropic stream",
		path: "/v1/messages",
		frames: []string{
			"event: message_start\n" + sse(`{"type":"message_start","message":{"usage":{"input_tokens":11,"output_tokens":1}}}`),
			"event: content_block_start\n" + sse(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			"event: content_block_delta\n" + sse(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}`),
			"event: content_block_delta\n" + sse(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"check."}}`),
			"event: ping\n" + sse(`{"type":"ping"}`),
			"event: content_block_start\n" + sse(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tu_9","name":"lookup","input":{}}}`),
			"event: content_block_delta\n" + sse(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\":"}}`),
			"event: content_block_delta\n" + sse(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"x\"}"}}`),
			"event: message_delta\n" + sse(`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}`),
			"event: message_stop\n" + sse(`{"type":"message_stop"}`),
		},
		want: out{Completion: "Let me check.", FinishReason: "tool_use", Prompt: 11, Completed: 30, Total: 41, ToolCalls: []pipeline.ToolCall{{ID: "tu_9", Name: "lookup", Arguments: `{"q":"x"}`}}},
	}, {
		name: "a buffered OpenAI stream",
		path: "/v1/chat/completions",
		resp: sse(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`) + "\n\n" + sse(`{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}`) + "\n\n" + sse("[DONE]") + "\n\n",
		want: out{Completion: "ab", FinishReason: "stop"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, denies := exchange(NewInference(), "POST", tc.path, `{"model":"m","messages":[]}`, tc.resp, tc.frames...)
			if !noDenies(denies) {
				t.Fatalf("a parser denied: %v", denies)
			}
			in := r.Inference
			got := out{in.Completion, in.FinishReason, in.PromptTokens, in.CompletionTokens, in.TotalTokens, in.ToolCalls}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestInferenceToolCallsAreBounded(t *testing.T) {
	frames := make([]string, 0, maxToolCalls+10)
	for i := range maxToolCalls + 10 {
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": "c"}}}}}})
		frames = append(frames, sse(string(b)))
	}
	r, _ := exchange(NewInference(), "POST", "/v1/chat/completions", `{"model":"m"}`, "", frames...)
	if n := len(r.Inference.ToolCalls); n != maxToolCalls {
		t.Errorf("%d tool calls kept, want %d", n, maxToolCalls)
	}
}
