package pipeline

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Denial codes, as upstream AuthBridge writes them, and their statuses.
const (
	CodeMissingToken          = "auth.missing-token"
	CodeInvalidToken          = "auth.invalid-token"
	CodeAudienceMismatch      = "auth.audience-mismatch"
	CodeUnauthorized          = "auth.unauthorized"
	CodeForbidden             = "policy.forbidden"
	CodeContentBlocked        = "policy.content-blocked"
	CodeRateLimited           = "policy.rate-limited"
	CodeUnreachable           = "upstream.unreachable"
	CodeExchangeFailed        = "upstream.token-exchange-failed"
	CodeTimeout               = "upstream.timeout"
	CodeCancelled             = "pipeline.cancelled"
	CodeRequestTooLarge       = "request.too-large"
	statusClientClosedRequest = 499
)

var statusOf = map[string]int{
	CodeMissingToken:     http.StatusUnauthorized,
	CodeInvalidToken:     http.StatusUnauthorized,
	CodeAudienceMismatch: http.StatusUnauthorized,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeContentBlocked:   http.StatusForbidden,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeUnreachable:      http.StatusServiceUnavailable,
	CodeExchangeFailed:   http.StatusServiceUnavailable,
	CodeTimeout:          http.StatusGatewayTimeout,
	CodeCancelled:        statusClientClosedRequest,
	CodeRequestTooLarge:  http.StatusRequestEntityTooLarge,
}

// Deny is a plugin's refusal of a request or response.
type Deny struct {
	// Status is the HTTP status; when 0, the code's (500 for an unknown code).
	Status int
	// Code is the machine-readable reason, e.g. policy.forbidden.
	Code string
	// Message is for the caller: it must carry no token or secret.
	Message string
	// Plugin is the plugin that refused; the pipeline fills it.
	Plugin string
	// Challenge, when set, is sent as WWW-Authenticate (RFC 6750) with a 401.
	Challenge string
}

// Denied is a Deny with Code and Message.
func Denied(code, message string) *Deny { return &Deny{Code: code, Message: message} }

// StatusCode is the HTTP status the denial is rendered with.
func (d *Deny) StatusCode() int {
	if d.Status != 0 {
		return d.Status
	}
	if s, ok := statusOf[d.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func (d *Deny) Error() string { return d.Plugin + ": " + d.Code + ": " + d.Message }

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Plugin  string `json:"plugin,omitempty"`
}

// Write renders the denial as upstream does: {"error", "message", "plugin"} with the
// code's status.
func (d *Deny) Write(w http.ResponseWriter) {
	body, _ := json.Marshal(errorBody{Error: d.Code, Message: d.Message, Plugin: d.Plugin})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	status := d.StatusCode()
	if status == http.StatusUnauthorized && d.Challenge != "" {
		h.Set("WWW-Authenticate", d.Challenge)
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

type rpcErrorBody struct {
	JSONRPC string   `json:"jsonrpc"`
	ID      any      `json:"id"`
	Error   rpcError `json:"error"`
}

type rpcError struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Data    rpcErrorData `json:"data"`
}

type rpcErrorData struct {
	Error  string `json:"error"`
	Plugin string `json:"plugin,omitempty"`
}

// RPCErrorCode is the JSON-RPC error code of a denied outbound MCP request.
const RPCErrorCode = -32000

// WriteFor renders the denial of r: an outbound MCP request with an id gets a
// JSON-RPC error −32000 at HTTP 200, which MCP clients show as a tool error rather than
// a transport failure (upstream's shape); everything else the plain error body.
func (d *Deny) WriteFor(w http.ResponseWriter, r *Request) {
	if r == nil || r.Direction != Outbound || r.MCP == nil || r.MCP.RPCID == nil || r.Response != nil {
		d.Write(w)
		return
	}
	body, _ := json.Marshal(rpcErrorBody{JSONRPC: "2.0", ID: r.MCP.RPCID, Error: rpcError{
		Code: RPCErrorCode, Message: d.Message, Data: rpcErrorData{Error: d.Code, Plugin: d.Plugin},
	}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}
