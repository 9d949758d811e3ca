package access

import (
	"strconv"

	"github.com/trustsync/trustsync/security/policy"
)

// decisionKey is what a decision can depend on: the bundle (by the fingerprint of its
// tiers), the point, and those parts of the call that feed the input fields the point's
// rules read (policy.Decider.Reads); the others are left empty. Calls alike in it get
// the same decision, so a policy that reads only the caller's identity decides once per
// caller and bundle, not once per pair: among 1,000 agents in ten namespaces, 10,000
// decisions instead of a million.
type decisionKey struct {
	bundle                  string
	pt                      policy.Point
	caller, callee, host    string
	method, path, a2a, peer string
	status                  int
}

// keyOf is the decision key of call at pt for a bundle whose decision there reads f.
// Which parts of a call feed which input field is policy.Call.Input's: direction and
// headers are the point's; host is the callee's; agent, identity and delegation name the
// caller and the callee as the direction says; peer is the authenticated peer.
func keyOf(bundle string, pt policy.Point, f policy.Fields, call policy.Call) decisionKey {
	k := decisionKey{bundle: bundle, pt: pt}
	outbound := pt.Direction == "outbound"
	if f.Has("method") {
		k.method = call.Method
	}
	if f.Has("path") {
		k.path = call.Path
	}
	if f.Has("a2a") {
		k.a2a = call.A2AMethod
	}
	if f.Has("response") {
		k.status = call.StatusCode
	}
	if f.Has("host") {
		k.host = call.Callee.Host
	}
	if f.Has("peer") {
		k.peer = call.PeerID
	}
	if f.Has("identity") {
		// inbound: the caller's; outbound: the caller as subject, the callee as client.
		k.caller = call.Caller.ID
		if outbound {
			k.callee = call.Callee.ID
		}
	}
	if f.Has("agent") {
		if outbound {
			k.caller = call.Caller.ID
		} else {
			k.callee = call.Callee.ID
		}
	}
	if f.Has("delegation") && outbound {
		k.caller = call.Caller.ID
	}
	return k
}

// String is the key for people, in test failures.
func (k decisionKey) String() string {
	return k.bundle[:min(12, len(k.bundle))] + " " + k.pt.String() + " " + k.caller + " → " + k.callee + " " + k.host + " " + k.method + " " + k.path + " " + k.a2a + " " + k.peer + " " + strconv.Itoa(k.status)
}
