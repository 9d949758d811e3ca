package parsers

import (
	"context"
	"net/http"
	"strings"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// plugin is what every parser is.
type plugin interface {
	pipeline.Plugin
	pipeline.RequestHandler
	pipeline.ResponseHandler
	pipeline.FrameHandler
	pipeline.BodyReader
	pipeline.ResponseBodyReader
	pipeline.Parser
}

var (
	_ plugin = (*A2A)(nil)
	_ plugin = (*MCP)(nil)
	_ plugin = (*Inference)(nil)
)

// exchange runs p over one request and its response: a buffered body, or frames when
// frames are given (each an SSE event without its terminator).
func exchange(p plugin, method, path, body, respBody string, frames ...string) (*pipeline.Request, []*pipeline.Deny) {
	ctx := context.Background()
	r := &pipeline.Request{Direction: pipeline.Outbound, Method: method, Path: path, Host: "h:80", Header: http.Header{}}
	if body != "" {
		r.Body = []byte(body)
	}
	var denies []*pipeline.Deny
	denies = append(denies, p.OnRequest(ctx, r))
	if respBody == "" && len(frames) == 0 {
		return r, denies
	}
	r.Response = &pipeline.Response{StatusCode: 200, Header: http.Header{}, Streaming: len(frames) > 0}
	if respBody != "" {
		r.Response.Body = []byte(respBody)
	}
	denies = append(denies, p.OnResponse(ctx, r))
	for _, f := range frames {
		denies = append(denies, p.OnFrame(ctx, r, []byte(f)))
	}
	return r, denies
}

// sse is an event with data lines.
func sse(lines ...string) string {
	return "data: " + strings.Join(lines, "\ndata: ")
}

func noDenies(ds []*pipeline.Deny) bool {
	for _, d := range ds {
		if d != nil {
			return false
		}
	}
	return true
}
