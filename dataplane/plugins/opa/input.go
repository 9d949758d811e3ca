package opa

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/policy"
)

// The input document is built in OPA's own form, ast values, so that an evaluation
// reads it as it is: given Go values, OPA would copy and convert the whole document on
// every evaluation (and send each number through encoding/json). Its shape is
// security/policy's Call.Input, with every field the request has, and it is the
// document OPA would have made of the same fields as Go values: the values the parsers
// decoded (MCP params and results, tool parameters) are converted as OPA converts them.

// Terms made once: the field names, and the values every request shares. OPA never
// changes a value it is given, so documents share them, as they share OPA's interned
// terms.
var (
	kDirection    = ast.StringTerm("direction")
	kMethod       = ast.StringTerm("method")
	kPath         = ast.StringTerm("path")
	kHost         = ast.StringTerm("host")
	kHeaders      = ast.StringTerm("headers")
	kAgent        = ast.StringTerm("agent")
	kIdentity     = ast.StringTerm("identity")
	kSubject      = ast.StringTerm("subject")
	kClientID     = ast.StringTerm("client_id")
	kScopes       = ast.StringTerm("scopes")
	kServiceID    = ast.StringTerm("service_id")
	kDelegation   = ast.StringTerm("delegation")
	kOrigin       = ast.StringTerm("origin")
	kActor        = ast.StringTerm("actor")
	kDepth        = ast.StringTerm("depth")
	kChain        = ast.StringTerm("chain")
	kSubjectID    = ast.StringTerm("subject_id")
	kAudience     = ast.StringTerm("audience")
	kStrategy     = ast.StringTerm("strategy")
	kFromCache    = ast.StringTerm("from_cache")
	kTimestamp    = ast.StringTerm("timestamp")
	kPeer         = ast.StringTerm("peer")
	kSPIFFEID     = ast.StringTerm("spiffe_id")
	kA2A          = ast.StringTerm("a2a")
	kSessionID    = ast.StringTerm("session_id")
	kTaskID       = ast.StringTerm("task_id")
	kRole         = ast.StringTerm("role")
	kParts        = ast.StringTerm("parts")
	kKind         = ast.StringTerm("kind")
	kContent      = ast.StringTerm("content")
	kFinalStatus  = ast.StringTerm("final_status")
	kArtifact     = ast.StringTerm("artifact")
	kErrorMessage = ast.StringTerm("error_message")
	kMCP          = ast.StringTerm("mcp")
	kParams       = ast.StringTerm("params")
	kResult       = ast.StringTerm("result")
	kError        = ast.StringTerm("error")
	kCode         = ast.StringTerm("code")
	kMessage      = ast.StringTerm("message")
	kData         = ast.StringTerm("data")
	kInference    = ast.StringTerm("inference")
	kModel        = ast.StringTerm("model")
	kStream       = ast.StringTerm("stream")
	kMaxTokens    = ast.StringTerm("max_tokens")
	kTools        = ast.StringTerm("tools")
	kName         = ast.StringTerm("name")
	kDescription  = ast.StringTerm("description")
	kParameters   = ast.StringTerm("parameters")
	kMessages     = ast.StringTerm("messages")
	kCompletion   = ast.StringTerm("completion")
	kToolCalls    = ast.StringTerm("tool_calls")
	kID           = ast.StringTerm("id")
	kArguments    = ast.StringTerm("arguments")
	kResponse     = ast.StringTerm("response")
	kStatusCode   = ast.StringTerm("status_code")

	vInbound  = ast.StringTerm(string(pipeline.Inbound))
	vOutbound = ast.StringTerm(string(pipeline.Outbound))
)

// mcpParamNames are the MCP params the document always has, when the call has them.
var mcpParamNames = [2]string{"name", "uri"}

// str is s as a term. Not ast.InternedTerm: the strings of a request are seldom among
// OPA's interned ones, and looking them up costs more than the term.
func str(s string) *ast.Term { return ast.StringTerm(s) }

// agentTerm is input.agent, {client_id}.
func agentTerm(id string) *ast.Term { return ast.ObjectTerm([2]*ast.Term{kClientID, str(id)}) }

// input is the input document of r at ph, agent its input.agent (null when nil), with
// the fields f says the decision can read (the others would not change it, and are not
// built). It fails only on a value the parsers decoded that OPA could not convert
// either (OPA's error: the decision is then a deny).
func (p *Plugin) input(r *pipeline.Request, ph pipeline.Phase, agent *ast.Term, f policy.Fields) (ast.Value, error) {
	if agent == nil {
		agent = ast.NullTerm()
	}
	in := make([][2]*ast.Term, 0, 16)
	if f.Has("direction") {
		switch r.Direction {
		case pipeline.Inbound:
			in = append(in, [2]*ast.Term{kDirection, vInbound})
		case pipeline.Outbound:
			in = append(in, [2]*ast.Term{kDirection, vOutbound})
		}
	}
	if f.Has("method") {
		in = append(in, [2]*ast.Term{kMethod, str(r.Method)})
	}
	if f.Has("path") {
		in = append(in, [2]*ast.Term{kPath, str(r.Path)})
	}
	if f.Has("host") {
		in = append(in, [2]*ast.Term{kHost, str(r.Host)})
	}
	if f.Has("headers") {
		in = append(in, [2]*ast.Term{kHeaders, headers(r.Header)})
	}
	if f.Has("agent") {
		in = append(in, [2]*ast.Term{kAgent, agent})
	}
	if id := r.Identity; id != nil && f.Has("identity") {
		m := make([][2]*ast.Term, 0, 4)
		m = append(m, [2]*ast.Term{kSubject, str(id.Subject)}, [2]*ast.Term{kClientID, str(id.ClientID)}, [2]*ast.Term{kScopes, strs(id.Scopes)})
		if id.ServiceID != "" {
			m = append(m, [2]*ast.Term{kServiceID, str(id.ServiceID)})
		}
		in = append(in, [2]*ast.Term{kIdentity, ast.ObjectTerm(m...)})
	}
	if d := r.Delegation; d != nil && f.Has("delegation") {
		in = append(in, [2]*ast.Term{kDelegation, delegation(d)})
	}
	if r.Peer != nil && f.Has("peer") {
		in = append(in, [2]*ast.Term{kPeer, ast.ObjectTerm([2]*ast.Term{kSPIFFEID, str(r.Peer.SPIFFEID)})})
	}
	if r.A2A != nil && f.Has("a2a") {
		in = append(in, [2]*ast.Term{kA2A, p.inc.a2a(r.A2A)})
	}
	if r.MCP != nil && f.Has("mcp") {
		m, err := p.inc.mcp(r.MCP)
		if err != nil {
			return nil, err
		}
		in = append(in, [2]*ast.Term{kMCP, m})
	}
	if r.Inference != nil && f.Has("inference") {
		m, err := p.inc.inference(r.Inference)
		if err != nil {
			return nil, err
		}
		in = append(in, [2]*ast.Term{kInference, m})
	}
	if ph == pipeline.PhaseResponse && r.Response != nil && f.Has("response") {
		in = append(in, [2]*ast.Term{kResponse, ast.ObjectTerm(
			[2]*ast.Term{kStatusCode, ast.IntNumberTerm(r.Response.StatusCode)},
			[2]*ast.Term{kHeaders, headers(r.Response.Header)},
		)})
	}
	return ast.NewObject(in...), nil
}

// lowerNames are the lower-cased canonical names of the common headers (and of the
// credentials, left out), so that flattening them allocates no new name.
var lowerNames = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, n := range []string{
		"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
		"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Connection", "Content-Encoding",
		"Content-Length", "Content-Type", "Date", "Etag", "Host", "Keep-Alive", "Last-Event-Id", "Location",
		"Mcp-Protocol-Version", "Mcp-Session-Id", "Origin", "Referer", "Server", "Traceparent", "Tracestate",
		"Transfer-Encoding", "User-Agent", "Vary", "X-A2a-Extensions", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Request-Id",
	} {
		m[n] = ast.StringTerm(strings.ToLower(n))
	}
	return m
}()

// headers flattens h as upstream does: lower-cased names, values joined with ", ",
// and the credentials (authorization, proxy-authorization, cookie, set-cookie) left
// out — not masked, absent.
func headers(h http.Header) *ast.Term {
	out := make([][2]*ast.Term, 0, len(h))
	// others counts the names not in lowerNames so far: only with one of them can two
	// names lower to the same (lowerNames' are distinct canonical names).
	others := 0
	for name, values := range h {
		if len(values) == 0 {
			continue
		}
		k, common := lowerNames[name]
		var lower string
		if common {
			lower = string(k.Value.(ast.String))
		} else {
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
		if !common {
			others++
		}
		if i := headerIndex(out, lower, others); i >= 0 { // the same name in two spellings
			out[i][1] = ast.StringTerm(string(out[i][1].Value.(ast.String)) + ", " + v)
			continue
		}
		if !common {
			k = ast.StringTerm(lower)
		}
		out = append(out, [2]*ast.Term{k, str(v)})
	}
	return ast.ObjectTerm(out...)
}

// headerIndex is the index of lower in out, -1 when it is not there or cannot be (no
// name outside lowerNames seen).
func headerIndex(out [][2]*ast.Term, lower string, others int) int {
	if others == 0 {
		return -1
	}
	for i, kv := range out {
		if string(kv[0].Value.(ast.String)) == lower {
			return i
		}
	}
	return -1
}

func strs(s []string) *ast.Term {
	out := make([]*ast.Term, len(s))
	for i, v := range s {
		out[i] = str(v)
	}
	return ast.ArrayTerm(out...)
}

// lastStamp is the last timestamp formatted: the hops of one second share its term.
var lastStamp atomic.Pointer[stamp]

type stamp struct {
	unix int64
	term *ast.Term
}

// timestamp is t in RFC 3339, to the second, as upstream's hops are.
func timestamp(t time.Time) *ast.Term {
	if s := lastStamp.Load(); s != nil && s.unix == t.Unix() {
		return s.term
	}
	s := &stamp{unix: t.Unix(), term: ast.StringTerm(t.UTC().Format(time.RFC3339))}
	lastStamp.Store(s)
	return s.term
}

func delegation(d *pipeline.Delegation) *ast.Term {
	chain := make([]*ast.Term, len(d.Chain))
	for i := range d.Chain {
		h := &d.Chain[i]
		chain[i] = ast.ObjectTerm(
			[2]*ast.Term{kSubjectID, str(h.SubjectID)},
			[2]*ast.Term{kAudience, str(h.Audience)},
			[2]*ast.Term{kScopes, strs(h.Scopes)},
			[2]*ast.Term{kStrategy, str(h.Strategy)},
			[2]*ast.Term{kFromCache, ast.InternedTerm(h.FromCache)},
			[2]*ast.Term{kTimestamp, timestamp(h.Time)},
		)
	}
	return ast.ObjectTerm(
		[2]*ast.Term{kOrigin, str(d.Origin)},
		[2]*ast.Term{kActor, str(d.Actor)},
		[2]*ast.Term{kDepth, ast.IntNumberTerm(len(d.Chain))},
		[2]*ast.Term{kChain, ast.ArrayTerm(chain...)},
	)
}

func (inc *include) a2a(a *pipeline.A2A) *ast.Term {
	n := 4
	if inc.a2aContent {
		n = 8
	}
	m := make([][2]*ast.Term, 0, n)
	m = append(m,
		[2]*ast.Term{kMethod, str(a.Method)},
		[2]*ast.Term{kSessionID, str(a.SessionID)},
		[2]*ast.Term{kTaskID, str(a.TaskID)},
		[2]*ast.Term{kRole, str(a.Role)},
	)
	if inc.a2aContent {
		parts := make([]*ast.Term, len(a.Parts))
		for i, p := range a.Parts {
			parts[i] = ast.ObjectTerm([2]*ast.Term{kKind, str(p.Kind)}, [2]*ast.Term{kContent, ast.StringTerm(p.Content)})
		}
		m = append(m,
			[2]*ast.Term{kParts, ast.ArrayTerm(parts...)},
			[2]*ast.Term{kFinalStatus, str(a.FinalStatus)},
			[2]*ast.Term{kArtifact, ast.StringTerm(a.Artifact)},
			[2]*ast.Term{kErrorMessage, ast.StringTerm(a.ErrorMessage)},
		)
	}
	return ast.ObjectTerm(m...)
}

func (inc *include) mcp(c *pipeline.MCP) (*ast.Term, error) {
	m := make([][2]*ast.Term, 0, 4)
	m = append(m, [2]*ast.Term{kMethod, str(c.Method)})
	if inc.mcpParams && c.Params != nil {
		params, err := decoded(c.Params)
		if err != nil {
			return nil, err
		}
		m = append(m, [2]*ast.Term{kParams, params})
	} else {
		params := make([][2]*ast.Term, 0, 2+len(inc.mcpParamKeys))
		add := func(k string) error {
			v, ok := c.Params[k]
			if !ok {
				return nil
			}
			t, err := decoded(v)
			if err != nil {
				return err
			}
			params = append(params, [2]*ast.Term{str(k), t})
			return nil
		}
		for _, k := range mcpParamNames {
			if err := add(k); err != nil {
				return nil, err
			}
		}
		for _, k := range inc.mcpParamKeys {
			if err := add(k); err != nil {
				return nil, err
			}
		}
		m = append(m, [2]*ast.Term{kParams, ast.ObjectTerm(params...)})
	}
	if inc.mcpResult && c.Result != nil {
		result, err := decoded(c.Result)
		if err != nil {
			return nil, err
		}
		m = append(m, [2]*ast.Term{kResult, result})
	}
	if inc.mcpError && c.Error != nil {
		data, err := decoded(c.Error.Data)
		if err != nil {
			return nil, err
		}
		m = append(m, [2]*ast.Term{kError, ast.ObjectTerm(
			[2]*ast.Term{kCode, ast.IntNumberTerm(c.Error.Code)},
			[2]*ast.Term{kMessage, ast.StringTerm(c.Error.Message)},
			[2]*ast.Term{kData, data},
		)})
	}
	return ast.ObjectTerm(m...), nil
}

func (inc *include) inference(f *pipeline.Inference) (*ast.Term, error) {
	m := make([][2]*ast.Term, 0, 8)
	m = append(m, [2]*ast.Term{kModel, str(f.Model)}, [2]*ast.Term{kStream, ast.InternedTerm(f.Stream)})
	if f.MaxTokens != nil {
		m = append(m, [2]*ast.Term{kMaxTokens, ast.IntNumberTerm(*f.MaxTokens)})
	}
	tools := make([]*ast.Term, len(f.Tools))
	for i, t := range f.Tools {
		if inc.toolsDetail {
			params, err := decoded(t.Parameters)
			if err != nil {
				return nil, err
			}
			tools[i] = ast.ObjectTerm([2]*ast.Term{kName, str(t.Name)}, [2]*ast.Term{kDescription, ast.StringTerm(t.Description)}, [2]*ast.Term{kParameters, params})
		} else {
			tools[i] = str(t.Name)
		}
	}
	m = append(m, [2]*ast.Term{kTools, ast.ArrayTerm(tools...)})
	if inc.inferenceMessages {
		msgs := make([]*ast.Term, len(f.Messages))
		for i, msg := range f.Messages {
			msgs[i] = ast.ObjectTerm([2]*ast.Term{kRole, str(msg.Role)}, [2]*ast.Term{kContent, ast.StringTerm(msg.Content)})
		}
		m = append(m, [2]*ast.Term{kMessages, ast.ArrayTerm(msgs...)})
	}
	if inc.inferenceCompletion {
		m = append(m, [2]*ast.Term{kCompletion, ast.StringTerm(f.Completion)})
	}
	if inc.inferenceToolCalls {
		calls := make([]*ast.Term, len(f.ToolCalls))
		for i, c := range f.ToolCalls {
			calls[i] = ast.ObjectTerm([2]*ast.Term{kID, str(c.ID)}, [2]*ast.Term{kName, str(c.Name)}, [2]*ast.Term{kArguments, ast.StringTerm(c.Arguments)})
		}
		m = append(m, [2]*ast.Term{kToolCalls, ast.ArrayTerm(calls...)})
	}
	return ast.ObjectTerm(m...), nil
}

// maxDecodedDepth is how deep decoded converts by itself; below, OPA's own conversion
// (which detects cycles) takes over. The parsers' values are shallower.
const maxDecodedDepth = 1000

// decoded converts a value a parser decoded as OPA converts a Go input: util.RoundTripFast
// (typed nil maps and slices become null, other Go types go through encoding/json), then
// ast.InterfaceToValue. The JSON types the parsers produce are converted here directly,
// without the copy RoundTripFast makes of every map and slice.
func decoded(x any) (*ast.Term, error) { return decodedAt(x, 0) }

func decodedAt(x any, depth int) (*ast.Term, error) {
	if depth >= maxDecodedDepth {
		return opaConverted(x)
	}
	switch x := x.(type) {
	case nil:
		return ast.NullTerm(), nil
	case string:
		return ast.StringTerm(x), nil
	case bool:
		return ast.InternedTerm(x), nil
	case json.Number:
		v, err := ast.InterfaceToValue(x)
		if err != nil {
			return nil, err
		}
		return ast.NewTerm(v), nil
	case map[string]any:
		if x == nil {
			return ast.NullTerm(), nil
		}
		kvs := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			t, err := decodedAt(e, depth+1)
			if err != nil {
				return nil, err
			}
			kvs = append(kvs, [2]*ast.Term{ast.StringTerm(k), t})
		}
		return ast.ObjectTerm(kvs...), nil
	case []any:
		if x == nil {
			return ast.NullTerm(), nil
		}
		elems := make([]*ast.Term, len(x))
		for i, e := range x {
			t, err := decodedAt(e, depth+1)
			if err != nil {
				return nil, err
			}
			elems[i] = t
		}
		return ast.ArrayTerm(elems...), nil
	}
	return opaConverted(x)
}

// opaConverted is x converted exactly as OPA converts a raw input.
func opaConverted(x any) (*ast.Term, error) {
	if err := util.RoundTripFast(&x); err != nil {
		return nil, err
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}
