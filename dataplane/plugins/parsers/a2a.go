package parsers

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// A2A is a2a-parser: it reads A2A JSON-RPC calls (methods message/…, tasks/…,
// agent/…, on any path) and their responses into Request.A2A.
type A2A struct{}

// NewA2A makes an a2a-parser; it takes no configuration.
func NewA2A() *A2A { return &A2A{} }

func (*A2A) Name() string            { return sidecarconfig.PluginA2AParser }
func (*A2A) Parser()                 {}
func (*A2A) ReadsBody() bool         { return true }
func (*A2A) ReadsResponseBody() bool { return true }

// OnRequest sets r.A2A when the body is an A2A call.
func (*A2A) OnRequest(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	if a := parseA2ARequest(r.Body); a != nil {
		r.A2A = a
	}
	return nil
}

// OnResponse reads the buffered response of an A2A call: a JSON-RPC response, or an
// event stream the listener buffered.
func (*A2A) OnResponse(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	if r.A2A == nil || r.Response == nil || len(r.Response.Body) == 0 {
		return nil
	}
	body := r.Response.Body
	if firstByte(body) == '{' {
		applyA2AResponse(r.A2A, body)
		return nil
	}
	eachEvent(body, func(data []byte) bool {
		applyA2AResponse(r.A2A, data)
		return true
	})
	return nil
}

// OnFrame reads one event of a streamed A2A response (message/stream,
// tasks/resubscribe): a task, a status update or an artifact update.
func (*A2A) OnFrame(_ context.Context, r *pipeline.Request, frame []byte) *pipeline.Deny {
	if r.A2A == nil {
		return nil
	}
	if data := eventData(frame); firstByte(data) == '{' {
		applyA2AResponse(r.A2A, data)
	}
	return nil
}

func isA2AMethod(m string) bool {
	return strings.HasPrefix(m, "message/") || strings.HasPrefix(m, "tasks/") || strings.HasPrefix(m, "agent/")
}

type a2aRequest struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Params struct {
		ContextID string      `json:"contextId"`
		SessionID string      `json:"sessionId"`
		TaskID    string      `json:"taskId"`
		ID        string      `json:"id"` // tasks/get, tasks/cancel: the task
		Message   *a2aMessage `json:"message"`
	} `json:"params"`
}

type a2aMessage struct {
	Role      string    `json:"role"`
	MessageID string    `json:"messageId"`
	ContextID string    `json:"contextId"`
	TaskID    string    `json:"taskId"`
	Parts     []a2aPart `json:"parts"`
}

type a2aPart struct {
	// Kind is A2A 0.3's discriminator; Type the earlier spelling.
	Kind string `json:"kind"`
	Type string `json:"type"`
	Text string `json:"text"`
	File *struct {
		Bytes string `json:"bytes"`
		URI   string `json:"uri"`
	} `json:"file"`
	Data json.RawMessage `json:"data"`
}

func parseA2ARequest(body []byte) *pipeline.A2A {
	if firstByte(body) != '{' {
		return nil
	}
	var req a2aRequest
	if !unmarshal(body, &req) || !isA2AMethod(req.Method) {
		return nil
	}
	p := &req.Params
	a := &pipeline.A2A{
		Method:    req.Method,
		RPCID:     rpcID(req.ID),
		SessionID: p.ContextID,
		TaskID:    p.TaskID,
		IsAction:  req.Method == "message/send" || req.Method == "message/stream",
	}
	if a.SessionID == "" {
		a.SessionID = p.SessionID
	}
	if m := p.Message; m != nil {
		if a.SessionID == "" {
			a.SessionID = m.ContextID
		}
		if a.TaskID == "" {
			a.TaskID = m.TaskID
		}
		a.Role, a.MessageID = m.Role, m.MessageID
		a.Parts = parts(m.Parts)
	}
	if a.TaskID == "" && strings.HasPrefix(req.Method, "tasks/") {
		a.TaskID = p.ID
	}
	return a
}

// parts are a message's parts as text: a text part's text, a file part's data (base64)
// or URI, a data part's JSON.
func parts(in []a2aPart) []pipeline.A2APart {
	if len(in) == 0 {
		return nil
	}
	out := make([]pipeline.A2APart, 0, len(in))
	for _, p := range in {
		kind := p.Kind
		if kind == "" {
			kind = p.Type
		}
		switch {
		case kind == "text" || (kind == "" && p.Text != ""):
			out = append(out, pipeline.A2APart{Kind: "text", Content: p.Text})
		case kind == "file" || (kind == "" && p.File != nil):
			var c string
			if p.File != nil {
				c = p.File.Bytes
				if c == "" {
					c = p.File.URI
				}
			}
			out = append(out, pipeline.A2APart{Kind: "file", Content: c})
		case kind == "data" || (kind == "" && len(p.Data) > 0):
			out = append(out, pipeline.A2APart{Kind: "data", Content: compact(p.Data)})
		}
	}
	return out
}

type a2aResponse struct {
	Result *a2aResult `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// a2aResult is any of the results: a task, a message, or (streamed) a status or
// artifact update.
type a2aResult struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	TaskID    string    `json:"taskId"`
	ContextID string    `json:"contextId"`
	Parts     []a2aPart `json:"parts"`
	Status    *struct {
		State   string      `json:"state"`
		Message *a2aMessage `json:"message"`
	} `json:"status"`
	Artifacts []a2aArtifact `json:"artifacts"`
	Artifact  *a2aArtifact  `json:"artifact"`
}

type a2aArtifact struct {
	Parts []a2aPart `json:"parts"`
}

// applyA2AResponse adds what one response message says to a: the latest task state
// (the final one once the stream ends), the failed state's text, and the artifacts'
// text (and a message result's), capped at 64 KiB in all.
func applyA2AResponse(a *pipeline.A2A, b []byte) {
	var resp a2aResponse
	if !unmarshal(b, &resp) {
		return
	}
	if resp.Error != nil && resp.Error.Message != "" {
		a.ErrorMessage = resp.Error.Message
	}
	res := resp.Result
	if res == nil {
		return
	}
	if a.SessionID == "" {
		a.SessionID = res.ContextID
	}
	if a.TaskID == "" {
		switch {
		case res.TaskID != "":
			a.TaskID = res.TaskID
		case res.Kind == "task" || (res.Kind == "" && res.Status != nil):
			a.TaskID = res.ID
		}
	}
	if s := res.Status; s != nil && s.State != "" {
		a.FinalStatus = s.State
		if s.State == "failed" && s.Message != nil {
			if t := text(s.Message.Parts); t != "" {
				a.ErrorMessage = t
			}
		}
	}
	for _, art := range res.Artifacts {
		appendText(&a.Artifact, art.Parts)
	}
	if res.Artifact != nil {
		appendText(&a.Artifact, res.Artifact.Parts)
	}
	if res.Kind == "message" {
		appendText(&a.Artifact, res.Parts)
	}
}

func appendText(dst *string, ps []a2aPart) {
	for _, p := range ps {
		if p.Kind == "text" || p.Type == "text" || (p.Kind == "" && p.Type == "" && p.Text != "") {
			appendCapped(dst, p.Text)
		}
	}
}

func text(ps []a2aPart) string {
	var s string
	appendText(&s, ps)
	return s
}
