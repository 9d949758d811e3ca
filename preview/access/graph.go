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
	// pairs keys the decisions of VerdictAt by identity index; built on first use.
	pairs *pairIndex
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

// VerdictAt is Verdict of Identities()[caller] → Identities()[callee], for a caller
// that walks every pair: its decisions are kept by the identities' indexes (interned
// SPIFFE IDs and hosts) rather than by strings, so a kept decision costs a lookup of
// a few integers. What each decision depends on is keyOf's, as for Verdict.
func (g *Graph) VerdictAt(ctx context.Context, caller, callee int) (Verdict, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pairs == nil {
		g.pairs = newPairIndex(g.s)
	}
	ids := g.s.rev.Identities
	if caller < 0 || callee < 0 || caller >= len(ids) || callee >= len(ids) {
		return Verdict{}, fmt.Errorf("no identity %d or %d of %d", caller, callee, len(ids))
	}
	v := Verdict{Exists: true}
	v.Inbound = g.pairs.decide(ctx, g.s, callee, 0, caller, callee)
	v.Outbound = g.pairs.decide(ctx, g.s, caller, 1, caller, callee)
	v.Allow = v.Inbound.Allow && v.Outbound.Allow
	return v, stoppedError(ctx, g.s)
}

// pairIndex is a Graph's identities by index: interned SPIFFE IDs, hosts and bundle
// fingerprints, what each bundle reads at each of Points, and the decisions by slot.
type pairIndex struct {
	id, host, bundle []int32
	peer             func(caller, callee int) bool
	reads            [][]*parts // by bundle, then by index in Points
	slots            map[slot]policy.Decision
}

// parts are the parts of a call a decision depends on, as keyOf keys it.
type parts struct {
	known                      bool
	caller, callee, host, peer bool
}

// slot is a decision's key by indexes; -1 marks a part the decision does not read.
type slot struct {
	bundle                     int32
	pt                         int8
	caller, callee, host, peer int32
}

func newPairIndex(s *side) *pairIndex {
	ids := s.rev.Identities
	p := &pairIndex{id: make([]int32, len(ids)), host: make([]int32, len(ids)), bundle: make([]int32, len(ids)), slots: map[slot]policy.Decision{}}
	intern := map[string]int32{}
	of := func(v string) int32 {
		i, ok := intern[v]
		if !ok {
			i = int32(len(intern))
			intern[v] = i
		}
		return i
	}
	bundles := map[string]int32{}
	for i, id := range ids {
		p.id[i], p.host[i] = of("id:"+id.ID), of("host:"+id.Host)
		fp := s.hashes[id.Key()]
		b, ok := bundles[fp]
		if !ok {
			b = int32(len(bundles))
			bundles[fp] = b
			p.reads = append(p.reads, make([]*parts, len(Points)))
		}
		p.bundle[i] = b
	}
	p.peer = func(caller, callee int) bool { return renderers.AuthenticatesPeer(ids[caller], ids[callee]) }
	return p
}

// partsOf finds which parts of a call keyOf keys a bundle's decision at Points[pt] by:
// the parts a probe call carries that end up in the key.
func (p *pairIndex) partsOf(ctx context.Context, s *side, owner, pt int) *parts {
	r := p.reads[p.bundle[owner]]
	if r[pt] != nil {
		return r[pt]
	}
	out := &parts{}
	key := s.rev.Identities[owner].Key()
	if d, err := s.decider(ctx, key); err == nil {
		if f, known := d.Reads(Points[pt]); known {
			probe := policy.Call{Caller: policy.Party{ID: "\x00caller"}, Callee: policy.Party{ID: "\x00callee", Host: "\x00host"}, PeerID: "\x00peer"}
			k := keyOf(s.hashes[key], Points[pt], f, probe)
			*out = parts{known: true, caller: k.caller == probe.Caller.ID, callee: k.callee == probe.Callee.ID, host: k.host == probe.Callee.Host, peer: k.peer == probe.PeerID}
		}
	}
	r[pt] = out
	return out
}

// decide is the decision at owner's sidecar at Points[pt] of caller → callee.
func (p *pairIndex) decide(ctx context.Context, s *side, owner, pt, caller, callee int) policy.Decision {
	ids := s.rev.Identities
	call := func() policy.Call { return s.call(ids[caller].Key(), ids[callee].Key()) }
	r := p.partsOf(ctx, s, owner, pt)
	if !r.known {
		return s.decide(ctx, ids[owner].Key(), Points[pt], call())
	}
	k := slot{bundle: p.bundle[owner], pt: int8(pt), caller: -1, callee: -1, host: -1, peer: -1}
	if r.caller {
		k.caller = p.id[caller]
	}
	if r.callee {
		k.callee = p.id[callee]
	}
	if r.host {
		k.host = p.host[callee]
	}
	if r.peer && p.peer(caller, callee) {
		k.peer = p.id[caller]
	}
	if d, ok := p.slots[k]; ok {
		return d
	}
	d := s.decide(ctx, ids[owner].Key(), Points[pt], call())
	if s.stopped == nil && ctx.Err() == nil {
		p.slots[k] = d
	}
	return d
}
