package pipeline

import (
	"net/http"
	"time"
)

// Direction is the side of the agent a request crosses.
type Direction string

const (
	// Inbound requests come to the agent (the reverse proxy).
	Inbound Direction = "inbound"
	// Outbound requests leave the agent (the forward and transparent proxies).
	Outbound Direction = "outbound"
)

// Phase is the half of an exchange a plugin handles.
type Phase string

const (
	PhaseRequest  Phase = "request"
	PhaseResponse Phase = "response"
)

// Request is one request as the plugins see it, from the listener that received it to
// the response. Plugins of one pipeline run one after another, so a Request is never
// used concurrently; it must not be kept after the exchange ends.
type Request struct {
	Direction Direction
	// Method, Scheme ("http", "https", or "tcp" for a CONNECT), Host (the Host header
	// or CONNECT authority, with its port) and Path (without the query).
	Method, Scheme, Host, Path string
	// Header is the live request header: a plugin that sets Authorization changes what
	// is forwarded.
	Header http.Header
	// Body is the request body when a plugin of the pipeline reads bodies (at most
	// MaxBodyBytes), else nil. A plugin that changes it sets a new slice and never writes
	// into this one, so the pipeline can undo an observe entry's change.
	Body []byte

	// Peer is the other sidecar authenticated by mutual TLS: inbound the caller, at the
	// outbound response the callee. Nil over plaintext.
	Peer *Peer
	// Identity is the validated bearer token's identity (jwt-validation, inbound) or the
	// identity the token exchange obtained (outbound).
	Identity *Identity
	// Delegation is the token exchanges' record (outbound).
	Delegation *Delegation
	// A2A, MCP and Inference are what the parsers understood of the body.
	A2A       *A2A
	MCP       *MCP
	Inference *Inference

	// Response is set for the response phase.
	Response *Response

	// Invocations records every plugin's outcome, in order, for the access log and
	// the metrics.
	Invocations []Invocation
}

// Peer is a sidecar authenticated by its X.509-SVID.
type Peer struct {
	// SPIFFEID is the SVID's SPIFFE ID.
	SPIFFEID string
}

// Identity is who a token says is calling.
type Identity struct {
	Subject  string
	ClientID string
	Scopes   []string
	Issuer   string
	Audience []string
	// ServiceID is the audience of the last exchange (outbound).
	ServiceID string
	Expiry    time.Time
}

// Delegation is the chain of token exchanges of an outbound request.
type Delegation struct {
	Origin string
	Actor  string
	Chain  []Hop
}

// Hop is one exchange (or cache hit) of the chain.
type Hop struct {
	SubjectID string
	Audience  string
	Scopes    []string
	Strategy  string
	FromCache bool
	Time      time.Time
}

// A2A is an A2A JSON-RPC call.
type A2A struct {
	Method    string
	RPCID     any
	SessionID string
	TaskID    string
	Role      string
	MessageID string
	Parts     []A2APart
	// Response side.
	FinalStatus  string
	Artifact     string
	ErrorMessage string
	// IsAction marks message/send and message/stream.
	IsAction bool
}

// A2APart is one part of an A2A message.
type A2APart struct {
	Kind    string
	Content string
}

// MCP is an MCP JSON-RPC call.
type MCP struct {
	Method string
	// RPCID is the JSON-RPC id as written (nil for a notification).
	RPCID  any
	Params map[string]any
	// Result or Error is the response's.
	Result map[string]any
	Error  *RPCError
	// IsAction marks tools/call, prompts/get and resources/read.
	IsAction bool
	// Batch is every MCP call of a JSON-RPC batch, in order (this one among them); nil
	// for a single call. A decision on a batch decides each of its actions.
	Batch []*MCP
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int
	Message string
	Data    any
}

// Inference is an LLM inference call (OpenAI or Anthropic shape).
type Inference struct {
	Model       string
	Messages    []Message
	Temperature *float64
	MaxTokens   *int
	TopP        *float64
	Stream      bool
	Tools       []Tool
	ToolChoice  any
	// Response side.
	Completion       string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
	ToolCalls        []ToolCall
}

// Message is one chat message, its content flattened to text.
type Message struct {
	Role    string
	Content string
}

// Tool is a tool offered to the model.
type Tool struct {
	Name        string
	Description string
	Parameters  any
}

// ToolCall is a tool the model called.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// Response is the response as the response phase sees it.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is the buffered body when a plugin reads response bodies and the response is
	// not streamed; nil otherwise. As Request.Body, changed only by setting a new slice.
	Body []byte
	// Streaming marks a text/event-stream response: the response plugins decide on its
	// status and headers before the first frame, and the frame handlers on each frame.
	Streaming bool
}

// Point is the decision point of the request in its current phase.
func (r *Request) Point() (Direction, Phase) {
	if r.Response != nil {
		return r.Direction, PhaseResponse
	}
	return r.Direction, PhaseRequest
}

// Action is what a plugin did with a request.
type Action string

const (
	ActionAllow Action = "allow"
	ActionDeny  Action = "deny"
	// ActionShadow is a denial of an observe entry: recorded, not enforced.
	ActionShadow Action = "shadow"
)

// Invocation is one plugin's outcome on a request.
type Invocation struct {
	Plugin string
	Phase  Phase
	Action Action
	// Code is the denial's code ("" when allowed).
	Code string
}
