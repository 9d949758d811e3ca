package access

import (
	"context"
	"fmt"
	"sync"

	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// Graph is who may call whom within one revision, decided as Compare decides, each pair
// once and only when asked: the dashboard's view of the applied revisions. It is safe
// for concurrent use.
type Graph struct {
	mu sync.Mutex
	s  *side
}

// NewGraph readies a revision's decisions; nothing is evaluated yet.
func NewGraph(r Revision) *Graph {
	s := newSide(r, map[string]*policy.Decider{}, map[decisionKey]policy.Decision{}, fingerprints{})
	s.name, s.verdicts = "applied", nil
	return &Graph{s: s}
}

// Identities of the revision, as given.
func (g *Graph) Identities() []renderers.Identity { return g.s.rev.Identities }

// Verdict of caller → callee (namespace/name keys) at inbound/request and
// outbound/request. A decision stopped at a bound is an error naming the policy.
func (g *Graph) Verdict(ctx context.Context, caller, callee string) (Verdict, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, _ := g.s.verdict(ctx, caller, callee)
	return v, stoppedError(ctx, g.s)
}

// Decide is one decision of caller → callee at pt with the given request (policy.Call's
// representative one where method or path is empty), by the bundle that decides there.
func (g *Graph) Decide(ctx context.Context, caller, callee string, pt policy.Point, method, path string) (policy.Decision, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.s.has(caller, callee) {
		return policy.Decision{}, fmt.Errorf("%s → %s: both must be agents or tools of the applied revisions", caller, callee)
	}
	call := g.s.call(caller, callee)
	call.Method, call.Path = method, path
	owner := callee
	if pt.Direction == "outbound" {
		owner = caller
	}
	d := g.s.decide(ctx, owner, pt, call)
	err := stoppedError(ctx, g.s)
	g.s.stopped = nil // one hostile question does not stop the next
	return d, err
}

// Tiers are the policies that decide at an identity's sidecar.
func (g *Graph) Tiers(key string) policy.Tiers { return g.s.tiers[key] }
