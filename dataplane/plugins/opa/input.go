package opa

import (
	"net/http"
	"strings"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// The input document is built of map[string]any, []any and scalars, which OPA
// converts without reflection. Its shape is security/policy's Call.Input, with every
// field the request has.

// Values boxed once, so that the common fields allocate nothing per request.
var (
	anyInbound  any = string(pipeline.Inbound)
	anyOutbound any = string(pipeline.Outbound)
	anyTrue     any = true
	anyFalse    any = false
)

func boolAny(b bool) any {
	if b {
		return anyTrue
	}
	return anyFalse
}

func (p *Plugin) input(r *pipeline.Request, ph pipeline.Phase, agent map[string]any) map[string]any {
	in := make(map[string]any, 16)
	switch r.Direction {
	case pipeline.Inbound:
		in["direction"] = anyInbound
	case pipeline.Outbound:
		in["direction"] = anyOutbound
	}
	in["method"] = r.Method
	in["path"] = r.Path
	in["host"] = r.Host
	in["headers"] = headers(r.Header)
	in["agent"] = agent
	if id := r.Identity; id != nil {
		m := make(map[string]any, 4)
		m["subject"] = id.Subject
		m["client_id"] = id.ClientID
		m["scopes"] = strs(id.Scopes)
		if id.ServiceID != "" {
			m["service_id"] = id.ServiceID
		}
		in["identity"] = m
	}
	if d := r.Delegation; d != nil {
		in["delegation"] = delegation(d)
	}
	if r.Peer != nil {
		in["peer"] = map[string]any{"spiffe_id": r.Peer.SPIFFEID}
	}
	if r.A2A != nil {
		in["a2a"] = p.inc.a2a(r.A2A)
	}
	if r.MCP != nil {
		in["mcp"] = p.inc.mcp(r.MCP)
	}
	if r.Inference != nil {
		in["inference"] = p.inc.inference(r.Inference)
	}
	if ph == pipeline.PhaseResponse && r.Response != nil {
		in["response"] = map[string]any{"status_code": r.Response.StatusCode, "headers": headers(r.Response.Header)}
	}
	return in
}

// lowerNames are the lower-cased canonical names of the common headers, so that
// flattening them allocates no new name.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Connection", "Content-Encoding",
		"Content-Length", "Content-Type", "Date", "Etag", "Host", "Keep-Alive", "Last-Event-Id", "Location",
		"Mcp-Protocol-Version", "Mcp-Session-Id", "Origin", "Referer", "Server", "Traceparent", "Tracestate",
		"Transfer-Encoding", "User-Agent", "Vary", "X-A2a-Extensions", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Request-Id",
	} {
		m[n] = strings.ToLower(n)
	}
	return m
}()

// headers flattens h as upstream does: lower-cased names, values joined with ", ",
// and the credentials (authorization, proxy-authorization, cookie, set-cookie) left
// out — not masked, absent.
func headers(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for name, values := range h {
		if len(values) == 0 {
			continue
		}
		lower, ok := lowerNames[name]
		if !ok {
			lower = strings.ToLower(name)
		}
		switch lower {
		case "authorization", "proxy-authorization", "cookie", "set-cookie":
			continue
		}
		v := values[0]
		if len(values) > 1 {
			v = strings.Join(values, ", ")
		}
		if prev, ok := out[lower]; ok { // the same name in two spellings
			v = prev.(string) + ", " + v
		}
		out[lower] = v
	}
	return out
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func delegation(d *pipeline.Delegation) map[string]any {
	chain := make([]any, len(d.Chain))
	for i := range d.Chain {
		h := &d.Chain[i]
		chain[i] = map[string]any{
			"subject_id": h.SubjectID,
			"audience":   h.Audience,
			"scopes":     strs(h.Scopes),
			"strategy":   h.Strategy,
			"from_cache": boolAny(h.FromCache),
			"timestamp":  h.Time.UTC().Format(time.RFC3339),
		}
	}
	return map[string]any{"origin": d.Origin, "actor": d.Actor, "depth": len(d.Chain), "chain": chain}
}

func (inc *include) a2a(a *pipeline.A2A) map[string]any {
	n := 4
	if inc.a2aContent {
		n = 8
	}
	m := make(map[string]any, n)
	m["method"] = a.Method
	m["session_id"] = a.SessionID
	m["task_id"] = a.TaskID
	m["role"] = a.Role
	if inc.a2aContent {
		parts := make([]any, len(a.Parts))
		for i, p := range a.Parts {
			parts[i] = map[string]any{"kind": p.Kind, "content": p.Content}
		}
		m["parts"] = parts
		m["final_status"] = a.FinalStatus
		m["artifact"] = a.Artifact
		m["error_message"] = a.ErrorMessage
	}
	return m
}

func (inc *include) mcp(c *pipeline.MCP) map[string]any {
	m := make(map[string]any, 4)
	m["method"] = c.Method
	if inc.mcpParams && c.Params != nil {
		// The parser's map, shared: neither OPA nor anything after it changes it.
		m["params"] = c.Params
	} else {
		params := make(map[string]any, 2+len(inc.mcpParamKeys))
		for _, k := range [2]string{"name", "uri"} {
			if v, ok := c.Params[k]; ok {
				params[k] = v
			}
		}
		for _, k := range inc.mcpParamKeys {
			if v, ok := c.Params[k]; ok {
				params[k] = v
			}
		}
		m["params"] = params
	}
	if inc.mcpResult && c.Result != nil {
		m["result"] = c.Result
	}
	if inc.mcpError && c.Error != nil {
		m["error"] = map[string]any{"code": c.Error.Code, "message": c.Error.Message, "data": c.Error.Data}
	}
	return m
}

func (inc *include) inference(f *pipeline.Inference) map[string]any {
	m := make(map[string]any, 8)
	m["model"] = f.Model
	m["stream"] = boolAny(f.Stream)
	if f.MaxTokens != nil {
		m["max_tokens"] = *f.MaxTokens
	}
	tools := make([]any, len(f.Tools))
	for i, t := range f.Tools {
		if inc.toolsDetail {
			tools[i] = map[string]any{"name": t.Name, "description": t.Description, "parameters": t.Parameters}
		} else {
			tools[i] = t.Name
		}
	}
	m["tools"] = tools
	if inc.inferenceMessages {
		msgs := make([]any, len(f.Messages))
		for i, msg := range f.Messages {
			msgs[i] = map[string]any{"role": msg.Role, "content": msg.Content}
		}
		m["messages"] = msgs
	}
	if inc.inferenceCompletion {
		m["completion"] = f.Completion
	}
	if inc.inferenceToolCalls {
		calls := make([]any, len(f.ToolCalls))
		for i, c := range f.ToolCalls {
			calls[i] = map[string]any{"id": c.ID, "name": c.Name, "arguments": c.Arguments}
		}
		m["tool_calls"] = calls
	}
	return m
}
