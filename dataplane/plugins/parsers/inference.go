package parsers

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Inference is inference-parser: it reads LLM inference calls, OpenAI's chat
// completions and completions and Anthropic's messages, and their responses (JSON or
// SSE chunks) into Request.Inference.
type Inference struct{}

// NewInference makes an inference-parser; it takes no configuration.
func NewInference() *Inference { return &Inference{} }

func (*Inference) Name() string            { return sidecarconfig.PluginInferenceParser }
func (*Inference) Parser()                 {}
func (*Inference) ReadsBody() bool         { return true }
func (*Inference) ReadsResponseBody() bool { return true }

type api uint8

const (
	apiNone api = iota
	apiChat
	apiCompletions
	apiAnthropic
)

// apiOf is the API of a path. Upstream matches the paths exactly; a prefix is
// accepted too, as gateways mount the APIs under one (/openai/v1/chat/completions).
func apiOf(p string) api {
	switch {
	case strings.HasSuffix(p, "/v1/chat/completions"):
		return apiChat
	case strings.HasSuffix(p, "/v1/completions"):
		return apiCompletions
	case strings.HasSuffix(p, "/v1/messages"):
		return apiAnthropic
	}
	return apiNone
}

// OnRequest sets r.Inference when the request is an inference call.
func (*Inference) OnRequest(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	if a := apiOf(r.Path); a != apiNone && firstByte(r.Body) == '{' {
		if in := parseInferenceRequest(a, r.Body); in != nil {
			r.Inference = in
		}
	}
	return nil
}

// OnResponse reads the buffered response: the JSON completion, or the chunks of a
// stream the listener buffered.
func (*Inference) OnResponse(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	if r.Inference == nil || r.Response == nil || len(r.Response.Body) == 0 {
		return nil
	}
	a, body := apiOf(r.Path), r.Response.Body
	if firstByte(body) == '{' {
		applyInference(a, r.Inference, body)
		return nil
	}
	eachEvent(body, func(data []byte) bool {
		applyInference(a, r.Inference, data)
		return true
	})
	return nil
}

// OnFrame reads one chunk of a streamed response.
func (*Inference) OnFrame(_ context.Context, r *pipeline.Request, frame []byte) *pipeline.Deny {
	if r.Inference == nil {
		return nil
	}
	if data := eventData(frame); firstByte(data) == '{' {
		applyInference(apiOf(r.Path), r.Inference, data)
	}
	return nil
}

type inferenceRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	// Prompt is the completions API's: a string or strings.
	Prompt json.RawMessage `json:"prompt"`
	// System is Anthropic's: a string or text blocks.
	System              json.RawMessage `json:"system"`
	Temperature         *float64        `json:"temperature"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	TopP                *float64        `json:"top_p"`
	Stream              bool            `json:"stream"`
	Tools               []struct {
		// OpenAI wraps a function; Anthropic's tool is flat.
		Function *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

func parseInferenceRequest(a api, body []byte) *pipeline.Inference {
	var req inferenceRequest
	if !unmarshal(body, &req) {
		return nil
	}
	in := &pipeline.Inference{
		Model:       req.Model,
		Temperature: req.Temperature,
		MaxTokens:   req.MaxTokens,
		TopP:        req.TopP,
		Stream:      req.Stream,
		ToolChoice:  decodeAny(req.ToolChoice),
	}
	if in.MaxTokens == nil {
		in.MaxTokens = req.MaxCompletionTokens
	}
	n := len(req.Messages)
	if len(req.System) > 0 || len(req.Prompt) > 0 {
		n++
	}
	if n > 0 {
		in.Messages = make([]pipeline.Message, 0, n)
	}
	if a == apiAnthropic && len(req.System) > 0 {
		in.Messages = append(in.Messages, pipeline.Message{Role: "system", Content: flatten(req.System)})
	}
	for _, m := range req.Messages {
		in.Messages = append(in.Messages, pipeline.Message{Role: m.Role, Content: flatten(m.Content)})
	}
	if a == apiCompletions && len(req.Prompt) > 0 {
		in.Messages = append(in.Messages, pipeline.Message{Role: "user", Content: flatten(req.Prompt)})
	}
	if len(req.Tools) > 0 {
		in.Tools = make([]pipeline.Tool, 0, len(req.Tools))
		for _, t := range req.Tools {
			if f := t.Function; f != nil {
				in.Tools = append(in.Tools, pipeline.Tool{Name: f.Name, Description: f.Description, Parameters: decodeAny(f.Parameters)})
				continue
			}
			in.Tools = append(in.Tools, pipeline.Tool{Name: t.Name, Description: t.Description, Parameters: decodeAny(t.InputSchema)})
		}
	}
	return in
}

// flatten is a message content as text: a string, or the text of its text parts
// joined by "\n" (OpenAI's content parts, Anthropic's blocks, a prompt's strings).
func flatten(raw json.RawMessage) string {
	switch firstByte(raw) {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case '[':
		var elems []json.RawMessage
		if !unmarshal(raw, &elems) {
			return ""
		}
		var b strings.Builder
		for _, e := range elems {
			var t string
			switch firstByte(e) {
			case '"':
				_ = json.Unmarshal(e, &t)
			case '{':
				var p struct {
					Type string `json:"type"`
					Text string `json:"text"`
				}
				if unmarshal(e, &p) && p.Type == "text" {
					t = p.Text
				}
			}
			if t == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t)
		}
		return b.String()
	}
	return ""
}

// openAIResponse is a completion or, streamed, a chunk of one.
type openAIResponse struct {
	Choices []struct {
		Index        int        `json:"index"`
		Text         string     `json:"text"`
		Message      *openAIMsg `json:"message"`
		Delta        *openAIMsg `json:"delta"`
		FinishReason *string    `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type openAIMsg struct {
	Content   *string `json:"content"`
	ToolCalls []struct {
		Index    *int   `json:"index"`
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// anthropicResponse is a message or, streamed, one event of it.
type anthropicResponse struct {
	Type         string           `json:"type"`
	Content      []anthropicBlock `json:"content"`
	StopReason   string           `json:"stop_reason"`
	Usage        *anthropicUsage  `json:"usage"`
	ContentBlock *anthropicBlock  `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Message *struct {
		Usage *anthropicUsage `json:"usage"`
	} `json:"message"`
}

type anthropicBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// applyInference adds one response message (a whole completion, or a stream's chunk)
// to in.
func applyInference(a api, in *pipeline.Inference, b []byte) {
	if a == apiAnthropic {
		applyAnthropic(in, b)
		return
	}
	var resp openAIResponse
	if !unmarshal(b, &resp) {
		return
	}
	if u := resp.Usage; u != nil {
		in.PromptTokens, in.CompletionTokens, in.TotalTokens = u.PromptTokens, u.CompletionTokens, u.TotalTokens
	}
	for _, c := range resp.Choices {
		// A policy sees the first choice; the others are alternatives to it.
		if c.Index != 0 {
			continue
		}
		appendCapped(&in.Completion, c.Text)
		if c.FinishReason != nil {
			in.FinishReason = *c.FinishReason
		}
		for _, m := range []*openAIMsg{c.Message, c.Delta} {
			if m == nil {
				continue
			}
			if m.Content != nil {
				appendCapped(&in.Completion, *m.Content)
			}
			for i, tc := range m.ToolCalls {
				idx := i
				if tc.Index != nil {
					idx = *tc.Index
				}
				call := toolCall(in, idx, tc.ID)
				if call == nil {
					continue
				}
				if tc.Function.Name != "" {
					call.Name = tc.Function.Name
				}
				appendCapped(&call.Arguments, tc.Function.Arguments)
			}
		}
	}
}

// toolCall is the tool call at idx of a streamed (or whole) response: an existing one,
// or a new one when idx is the next; nil past the bound or for an index out of order.
func toolCall(in *pipeline.Inference, idx int, id string) *pipeline.ToolCall {
	switch {
	case idx >= 0 && idx < len(in.ToolCalls):
	case idx == len(in.ToolCalls) && idx < maxToolCalls:
		in.ToolCalls = append(in.ToolCalls, pipeline.ToolCall{})
	default:
		return nil
	}
	call := &in.ToolCalls[idx]
	if id != "" {
		call.ID = id
	}
	return call
}

func applyAnthropic(in *pipeline.Inference, b []byte) {
	var resp anthropicResponse
	if !unmarshal(b, &resp) {
		return
	}
	setUsage := func(u *anthropicUsage) {
		if u == nil {
			return
		}
		if u.InputTokens != 0 {
			in.PromptTokens = u.InputTokens
		}
		if u.OutputTokens != 0 {
			in.CompletionTokens = u.OutputTokens
		}
		in.TotalTokens = in.PromptTokens + in.CompletionTokens
	}
	switch resp.Type {
	case "message": // a whole response
		for _, blk := range resp.Content {
			addBlock(in, &blk)
		}
		in.FinishReason = resp.StopReason
		setUsage(resp.Usage)
	case "message_start":
		if resp.Message != nil {
			setUsage(resp.Message.Usage)
		}
	case "content_block_start":
		if resp.ContentBlock != nil {
			addBlock(in, resp.ContentBlock)
		}
	case "content_block_delta":
		switch d := resp.Delta; {
		case d == nil:
		case d.Type == "text_delta":
			appendCapped(&in.Completion, d.Text)
		case d.Type == "input_json_delta" && len(in.ToolCalls) > 0:
			// Blocks stream one after another: a delta continues the last tool use.
			appendCapped(&in.ToolCalls[len(in.ToolCalls)-1].Arguments, d.PartialJSON)
		}
	case "message_delta":
		if resp.Delta != nil && resp.Delta.StopReason != "" {
			in.FinishReason = resp.Delta.StopReason
		}
		setUsage(resp.Usage)
	}
}

// addBlock adds a content block: text to the completion, a tool use as a tool call
// (its input as JSON text; a streamed one's input arrives in deltas).
func addBlock(in *pipeline.Inference, blk *anthropicBlock) {
	switch blk.Type {
	case "text":
		appendCapped(&in.Completion, blk.Text)
	case "tool_use":
		call := toolCall(in, len(in.ToolCalls), blk.ID)
		if call == nil {
			return
		}
		call.Name = blk.Name
		if args := compact(blk.Input); args != "{}" {
			appendCapped(&call.Arguments, args)
		}
	}
}
