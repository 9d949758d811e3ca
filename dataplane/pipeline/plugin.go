package pipeline

import "context"

// Plugin is a pipeline stage. A plugin has at least one of RequestHandler,
// ResponseHandler and FrameHandler; the other interfaces are optional.
type Plugin interface {
	// Name is the plugin's name in config.yaml (jwt-validation, opa, ...).
	Name() string
}

// RequestHandler decides on, and may change, a request before it is forwarded. A nil
// Deny lets it go on.
type RequestHandler interface {
	OnRequest(ctx context.Context, r *Request) *Deny
}

// ResponseHandler decides on a response before it is returned (r.Response is set).
// Response handlers run in the reverse order of the pipeline.
type ResponseHandler interface {
	OnResponse(ctx context.Context, r *Request) *Deny
}

// FrameHandler sees each event of a streamed (text/event-stream) response, after the
// response handlers decided on its headers; frame is one event, without its blank-line
// terminator. A Deny ends the stream.
type FrameHandler interface {
	OnFrame(ctx context.Context, r *Request, frame []byte) *Deny
}

// Readier is a plugin that cannot decide yet (credentials or a policy bundle pending).
// Ready returns nil when ready, else why not.
type Readier interface {
	Ready() error
}

// BodyReader is a plugin that reads request bodies (Request.Body is buffered for it).
type BodyReader interface {
	ReadsBody() bool
}

// ResponseBodyReader is a plugin that reads response bodies (Response.Body is
// buffered for it, except on streamed responses).
type ResponseBodyReader interface {
	ReadsResponseBody() bool
}

// Runner is a plugin with background work (polling, waiting for credential files):
// Run runs until ctx is done. Run may be called on a plugin that has not served a
// request yet; a plugin that is not ready reports it through Readier.
type Runner interface {
	Run(ctx context.Context)
}

// Parser is a plugin that only reads what a request or response says (a2a-parser,
// mcp-parser, inference-parser). On responses and frames the parsers run first, in the
// configured order, so every deciding plugin sees the parsed response whatever its place
// in the list; the other response handlers then run in the reverse order.
type Parser interface {
	Parser()
}
