package policy

// Party is one side of a call between two workloads.
type Party struct {
	// ID is the SPIFFE ID, spiffe://<td>/ns/<ns>/sa/<sa>; it is also the Keycloak
	// client ID, so the policies see it as a client_id.
	ID string
	// Host is how callers address the workload, e.g. planner-agent.team-b.svc:8000.
	Host string
}

// Call is a representative request from one workload to another, as AuthBridge sees
// it: inbound at the callee's sidecar, outbound at the caller's.
type Call struct {
	Caller, Callee Party
	// Method and Path of the HTTP request; POST / (an A2A JSON-RPC call) when empty.
	Method, Path string
	// A2AMethod is the A2A JSON-RPC method; message/send when empty.
	A2AMethod string
	// StatusCode of the response, at the response points; 200 when 0.
	StatusCode int
	// PeerID is the SPIFFE ID of the other sidecar as mutual TLS authenticated it, for
	// input.peer.spiffe_id: at the inbound points the caller's sidecar (when it dials
	// with strict mTLS), at outbound/response the callee's. Empty over plaintext: no
	// peer field.
	PeerID string
}

// Decides is the workload whose bundle decides at pt: the callee inbound, the caller
// outbound.
func (c Call) Decides(pt Point) Party {
	if pt.Direction == "outbound" {
		return c.Caller
	}
	return c.Callee
}

// Input is the AuthBridge input document of the call at pt. Inbound, identity is the
// validated caller (its client ID is its SPIFFE ID) and agent the callee. Outbound,
// agent is the caller, and identity is what token exchange leaves, as upstream's
// runbook and OPA plugin have it: client_id the calling workload's own client ID,
// service_id the callee (the audience of the exchange), subject the delegation's origin.
func (c Call) Input(pt Point) map[string]any {
	method, path, a2a, status := c.Method, c.Path, c.A2AMethod, c.StatusCode
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/"
	}
	if a2a == "" {
		a2a = "message/send"
	}
	if status == 0 {
		status = 200
	}
	in := map[string]any{
		"direction": pt.Direction,
		"method":    method,
		"path":      path,
		"host":      c.Callee.Host,
		"headers":   map[string]any{"content-type": "application/json"},
		"a2a":       map[string]any{"method": a2a},
	}
	if pt.Direction == "outbound" {
		in["agent"] = map[string]any{"client_id": c.Caller.ID}
		in["identity"] = map[string]any{"subject": c.Caller.ID, "client_id": c.Caller.ID, "service_id": c.Callee.ID, "scopes": []any{}}
		in["delegation"] = map[string]any{"origin": c.Caller.ID, "actor": c.Caller.ID, "depth": 1, "chain": []any{}}
	} else {
		in["agent"] = map[string]any{"client_id": c.Callee.ID}
		in["identity"] = map[string]any{"subject": c.Caller.ID, "client_id": c.Caller.ID, "scopes": []any{}}
	}
	if c.PeerID != "" && (pt.Direction == "inbound" || pt.Phase == "response") {
		in["peer"] = map[string]any{"spiffe_id": c.PeerID}
	}
	if pt.Phase == "response" {
		in["response"] = map[string]any{"status_code": status, "headers": map[string]any{"content-type": "application/json"}}
	}
	return in
}
