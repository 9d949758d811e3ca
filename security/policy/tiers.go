package policy

import (
	"fmt"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Root is the package root of every AuthBridge policy and the bundle's only root.
const Root = "authbridge"

// Point is one of the four places AuthBridge decides: direction × phase.
type Point struct {
	Direction string // inbound | outbound
	Phase     string // request | response
}

// Points are the four decision points.
var Points = []Point{
	{"inbound", "request"}, {"inbound", "response"}, {"outbound", "request"}, {"outbound", "response"},
}

// String gives the point as a path, e.g. inbound/request.
func (p Point) String() string { return p.Direction + "/" + p.Phase }

// File is the conventional policy path of the point, e.g. inbound/request.rego.
func (p Point) File() string { return p.String() + ".rego" }

// ParsePoint reads "inbound/request" (a trailing .rego is accepted).
func ParsePoint(s string) (Point, error) {
	s = strings.TrimSuffix(s, ".rego")
	for _, p := range Points {
		if p.String() == s {
			return p, nil
		}
	}
	return Point{}, fmt.Errorf("%q is not a decision point (inbound/request, inbound/response, outbound/request, outbound/response)", s)
}

// tierSegment is the package segment of a scope below the root: "" for global.
func tierSegment(scope agentv1.PolicyScope) string {
	switch scope {
	case agentv1.ScopeNamespace:
		return "ns"
	case agentv1.ScopeClient:
		return "client"
	}
	return ""
}

// Package is the package a tier's policy for a point declares, e.g.
// authbridge.ns.inbound.request.
func Package(scope agentv1.PolicyScope, p Point) string {
	if seg := tierSegment(scope); seg != "" {
		return Root + "." + seg + "." + p.Direction + "." + p.Phase
	}
	return Root + "." + p.Direction + "." + p.Phase
}

// allowedPackage reports whether a policy of the scope may declare pkg. Each tier owns
// its subtree, so a tenant's namespace or client policy can never define the global
// decision or another tier's rules.
func allowedPackage(scope agentv1.PolicyScope, pkg string) bool {
	if seg := tierSegment(scope); seg != "" {
		return strings.HasPrefix(pkg, Root+"."+seg+".")
	}
	return strings.HasPrefix(pkg, Root+".") &&
		!strings.HasPrefix(pkg, Root+".ns.") && !strings.HasPrefix(pkg, Root+".client.")
}
