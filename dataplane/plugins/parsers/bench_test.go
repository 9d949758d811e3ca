package parsers

import (
	"context"
	"net/http"
	"testing"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// BenchmarkParse is each parser on a typical request and its response, the work it
// adds to one exchange.
func BenchmarkParse(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name             string
		p                plugin
		path, body, resp string
	}{
		{"a2a", NewA2A(), "/", a2aSend, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t1","contextId":"c1","status":{"state":"completed"},"artifacts":[{"parts":[{"kind":"text","text":"the answer"}]}]}}`},
		{"mcp", NewMCP(nil), "/mcp", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Oslo"}}}`, `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"sunny"}]}}`},
		{"mcp-not-mcp", NewMCP(nil), "/", a2aSend, ""},
		{"inference", NewInference(), "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"weather in Oslo?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`, `{"choices":[{"index":0,"message":{"content":"sunny"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`},
	} {
		body, resp := []byte(bc.body), []byte(bc.resp)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := pipeline.Request{Method: "POST", Path: bc.path, Body: body}
				bc.p.OnRequest(ctx, &r)
				if len(resp) > 0 {
					r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{}, Body: resp}
					bc.p.OnResponse(ctx, &r)
				}
			}
		})
	}
}
