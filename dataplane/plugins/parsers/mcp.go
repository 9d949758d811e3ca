package parsers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path"
	"strings"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Methods of the MCP transport, which no JSON-RPC method can be.
const (
	MethodStream    = "$transport/stream"
	MethodTerminate = "$transport/terminate"
)

// maxBatch bounds a JSON-RPC batch: a longer one is not parsed at all (r.MCP stays
// nil), rather than parsed in part, so that no call hides behind the bound.
const maxBatch = 100

// MCP is mcp-parser: it reads MCP JSON-RPC calls (on any path), JSON-RPC batches of
// them, the body-less transport requests on its paths, and their responses into
// Request.MCP.
type MCP struct {
	paths []string
}

// NewMCP makes an mcp-parser; a nil cfg takes the defaults (paths /mcp).
func NewMCP(cfg *sidecarconfig.MCPParser) *MCP {
	p := &MCP{paths: []string{"/mcp"}}
	if cfg != nil && len(cfg.Paths) > 0 {
		p.paths = append([]string(nil), cfg.Paths...)
	}
	return p
}

func (*MCP) Name() string            { return sidecarconfig.PluginMCPParser }
func (*MCP) Parser()                 {}
func (*MCP) ReadsBody() bool         { return true }
func (*MCP) ReadsResponseBody() bool { return true }

// OnRequest sets r.MCP when the request is an MCP call or transport request. Of a
// batch it keeps the first element that is an action (tools/call, prompts/get,
// resources/read), else the first MCP element.
func (p *MCP) OnRequest(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	switch firstByte(r.Body) {
	case '{':
		if m := parseMCPMessage(r.Body); m != nil {
			r.MCP = m
		}
	case '[':
		if m := parseMCPBatch(r.Body); m != nil {
			r.MCP = m
		} else if tooLongBatch(r.Body) {
			// Unparsed, its calls would reach no policy: refused (fail closed).
			return pipeline.Denied(pipeline.CodeRequestTooLarge, fmt.Sprintf("a JSON-RPC batch of more than %d calls is refused", maxBatch))
		}
	case 0:
		if m := p.transport(r); m != nil {
			r.MCP = m
		}
	}
	return nil
}

// transport is the MCP transport event of a body-less request on an MCP path: a GET
// opens the server's event stream, a DELETE with the session ends the session.
func (p *MCP) transport(r *pipeline.Request) *pipeline.MCP {
	var method string
	switch {
	case r.Method == http.MethodGet:
		method = MethodStream
	case r.Method == http.MethodDelete && r.Header.Get("Mcp-Session-Id") != "":
		method = MethodTerminate
	default:
		return nil
	}
	for _, pat := range p.paths {
		if ok, _ := path.Match(pat, r.Path); ok {
			return &pipeline.MCP{Method: method}
		}
	}
	return nil
}

// OnResponse reads the buffered response: a JSON-RPC response (or, to a batch, the
// array's answer to the kept call), or an event stream the listener buffered (at most
// 50 events).
func (*MCP) OnResponse(_ context.Context, r *pipeline.Request) *pipeline.Deny {
	if !awaitsResponse(r.MCP) || r.Response == nil {
		return nil
	}
	body := r.Response.Body
	switch firstByte(body) {
	case '{':
		applyMCPResponse(r.MCP, body)
	case '[':
		applyMCPBatchResponse(r.MCP, body)
	case 0:
	default:
		eachEvent(body, func(data []byte) bool {
			return !applyMCPResponse(r.MCP, data)
		})
	}
	return nil
}

// OnFrame reads one event of a streamed response, until the response to the call has
// come; the server's own requests and notifications in the stream are skipped.
func (*MCP) OnFrame(_ context.Context, r *pipeline.Request, frame []byte) *pipeline.Deny {
	if !awaitsResponse(r.MCP) {
		return nil
	}
	// Most events of a long stream are progress notifications: only an event that
	// can be a response is decoded.
	if !bytes.Contains(frame, []byte(`"result"`)) && !bytes.Contains(frame, []byte(`"error"`)) && !bytes.Contains(frame, []byte(`\u`)) {
		return nil
	}
	if data := eventData(frame); firstByte(data) == '{' {
		applyMCPResponse(r.MCP, data)
	}
	return nil
}

// awaitsResponse is true for a call with an id whose response has not been read.
func awaitsResponse(m *pipeline.MCP) bool {
	return m != nil && m.RPCID != nil && m.Result == nil && m.Error == nil
}

func isMCPMethod(m string) bool {
	switch m {
	case "initialize", "ping":
		return true
	}
	i := strings.IndexByte(m, '/')
	if i < 0 {
		return false
	}
	switch m[:i+1] {
	case "notifications/", "tools/", "resources/", "prompts/", "completion/", "logging/", "sampling/", "roots/", "elicitation/":
		return true
	}
	return false
}

func isMCPAction(m string) bool {
	return m == "tools/call" || m == "prompts/get" || m == "resources/read"
}

type mcpRequest struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Params json.RawMessage `json:"params"`
}

func parseMCPMessage(b []byte) *pipeline.MCP {
	var req mcpRequest
	if !unmarshal(b, &req) || !isMCPMethod(req.Method) {
		return nil
	}
	return &pipeline.MCP{
		Method:   req.Method,
		RPCID:    rpcID(req.ID),
		Params:   params(req.Params),
		IsAction: isMCPAction(req.Method),
	}
}

// params are a call's params; when they nest too deep to keep whole, their name and
// uri still are, so a policy on the tool or resource sees them.
func params(raw json.RawMessage) map[string]any {
	if m := decodeObject(raw); m != nil {
		return m
	}
	if firstByte(raw) != '{' {
		return nil
	}
	var nu struct {
		Name *string `json:"name"`
		URI  *string `json:"uri"`
	}
	if !unmarshal(raw, &nu) || (nu.Name == nil && nu.URI == nil) {
		return nil
	}
	m := make(map[string]any, 2)
	if nu.Name != nil {
		m["name"] = *nu.Name
	}
	if nu.URI != nil {
		m["uri"] = *nu.URI
	}
	return m
}

// batch reads the elements of a JSON array, at most maxBatch; nil when longer or
// malformed.
func batch(b []byte) []json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		return nil
	}
	var out []json.RawMessage
	for d.More() {
		if len(out) == maxBatch {
			return nil
		}
		var e json.RawMessage
		if d.Decode(&e) != nil {
			return nil
		}
		out = append(out, e)
	}
	return out
}

// parseMCPBatch is the first action of a batch (else its first MCP call), with every
// MCP call of the batch in Batch: a policy decides each action, so a forbidden call
// cannot ride behind an allowed one.
func parseMCPBatch(b []byte) *pipeline.MCP {
	var all []*pipeline.MCP
	var chosen *pipeline.MCP
	for _, e := range batch(b) {
		if firstByte(e) != '{' {
			continue
		}
		var head struct {
			Method string `json:"method"`
		}
		if !unmarshal(e, &head) || !isMCPMethod(head.Method) {
			continue
		}
		m := parseMCPMessage(e)
		if m == nil {
			continue
		}
		all = append(all, m)
		if chosen == nil || (m.IsAction && !chosen.IsAction) {
			chosen = m
		}
	}
	if chosen != nil {
		chosen.Batch = all
	}
	return chosen
}

// tooLongBatch says b is an MCP JSON-RPC batch (its first element an MCP call) of more
// elements than are parsed; other JSON arrays are no concern of the parser.
func tooLongBatch(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		return false
	}
	for n := 0; d.More(); n++ {
		if n == maxBatch {
			return true
		}
		var e json.RawMessage
		if d.Decode(&e) != nil {
			return false
		}
		if n == 0 {
			var head struct {
				Method string `json:"method"`
			}
			if firstByte(e) != '{' || !unmarshal(e, &head) || !isMCPMethod(head.Method) {
				return false
			}
		}
	}
	return false
}

type mcpResponse struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    json.Number     `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// applyMCPResponse reads b as the response to m and reports whether it was: a
// message with a result or an error and m's id (or none). The result is kept when it
// is an object.
func applyMCPResponse(m *pipeline.MCP, b []byte) bool {
	var resp mcpResponse
	if !unmarshal(b, &resp) || resp.Method != "" || !sameID(resp.ID, m.RPCID) {
		return false
	}
	switch {
	case resp.Error != nil:
		m.Error = &pipeline.RPCError{Code: code(resp.Error.Code), Message: resp.Error.Message, Data: decodeAny(resp.Error.Data)}
		return true
	case len(resp.Result) > 0:
		m.Result = decodeObject(resp.Result)
		if m.Result == nil {
			// A result that is not an object (or nests too deep) still answers the
			// call: nothing more of the stream is for it.
			m.Result = map[string]any{}
		}
		return true
	}
	return false
}

func applyMCPBatchResponse(m *pipeline.MCP, b []byte) {
	for _, e := range batch(b) {
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		if firstByte(e) == '{' && unmarshal(e, &head) && rpcID(head.ID) != nil && sameID(head.ID, m.RPCID) {
			applyMCPResponse(m, e)
			return
		}
	}
}

// code is a JSON-RPC error code as an int; 0 when it is none.
func code(n json.Number) int {
	if i, err := n.Int64(); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i)
	}
	if f, err := n.Float64(); err == nil && f >= math.MinInt32 && f <= math.MaxInt32 {
		return int(f)
	}
	return 0
}
