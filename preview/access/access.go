package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// Revision is what decides access in one revision: its identities and its policies.
type Revision struct {
	Identities []renderers.Identity
	Policies   *policy.Set
	// Sources maps namespace/name of each AuthorizationPolicy to its file, for causes.
	Sources map[string]string
	// Limits bound each decision (the Platform defaults where unset).
	Limits gitopsv1.Limits
}

// FromRender gathers a rendered revision's identities and policies.
func FromRender(res *renderers.Result, p *gitopsv1.Platform) Revision {
	r := Revision{Identities: res.Identities(p.TrustDomain), Policies: policy.NewSet(p.Namespace, res.AuthorizationPolicies()), Sources: map[string]string{}, Limits: p.Limits}
	for _, o := range res.Objects {
		if o.GetKind() == agentv1.AuthorizationPolicyKind && o.Source != "" {
			r.Sources[o.GetNamespace()+"/"+o.GetName()] = o.Source
		}
	}
	return r
}

// Points are the decisions a call needs: inbound at the callee's sidecar and outbound at
// the caller's. A call is allowed when both allow.
var Points = []policy.Point{{Direction: "inbound", Phase: "request"}, {Direction: "outbound", Phase: "request"}}

// Verdict of one caller → callee pair in one revision.
type Verdict struct {
	// Exists is false when one of the two is not in the revision.
	Exists bool `json:"exists"`
	Allow  bool `json:"allow"`
	// Inbound and Outbound are the two decisions.
	Inbound  policy.Decision `json:"inbound"`
	Outbound policy.Decision `json:"outbound"`
}

// Refusal is the decision that denied, for people: "inbound: refused by …".
func (v Verdict) Refusal() string {
	switch {
	case !v.Exists:
		return "not in this revision"
	case !v.Inbound.Allow:
		return "inbound/request: " + v.Inbound.Reason
	case !v.Outbound.Allow:
		return "outbound/request: " + v.Outbound.Reason
	}
	return ""
}

// Change is a pair whose verdict differs between the revisions.
type Change struct {
	Caller, Callee renderers.Identity
	Before, After  Verdict
	// CrossNamespace is true when caller and callee are in different namespaces.
	CrossNamespace bool
	// Causes are the policy files of the deciding tiers that differ between the
	// revisions, e.g. "team-b/policies.yaml: AuthorizationPolicy team-b/planner-agent (inbound/request.rego)".
	Causes []string
}

// Granted reports whether the change lets the caller in where it was not before.
func (c Change) Granted() bool { return c.After.Allow && !c.Before.Allow }

// Sentence says the change in plain words.
func (c Change) Sentence() string {
	caller, callee := c.Caller.Key(), c.Callee.Key()
	switch {
	case c.Granted() && !c.Before.Exists:
		return fmt.Sprintf("%s may call %s (new)", caller, callee)
	case c.Granted():
		return fmt.Sprintf("%s may now call %s", caller, callee)
	case !c.After.Exists:
		return fmt.Sprintf("%s no longer calls %s (removed)", caller, callee)
	default:
		return fmt.Sprintf("%s may no longer call %s", caller, callee)
	}
}

// Result compares two revisions.
type Result struct {
	// Changes in caller, callee order.
	Changes []Change
	// Identities of the head revision, and those that left it.
	Identities, Removed []renderers.Identity
	// Pairs is the number of caller → callee pairs in either revision; Considered those
	// whose inputs changed, the only ones that can change; Evaluated the decisions made.
	Pairs, Considered, Evaluated int
	// Matrix is who may call whom in the head revision, when it has at most MatrixLimit
	// identities: Matrix[i][j] for Identities[i] calling Identities[j].
	Matrix [][]Verdict
	// BaseMatrix is the same for the base revision, over the same identities (a caller or
	// callee absent there does not exist).
	BaseMatrix [][]Verdict
}

// MatrixLimit is the largest revision whose full matrix is computed for the report.
const MatrixLimit = 12

// Compare evaluates who may call whom in base and head, at inbound/request and
// outbound/request with a representative request (policy.Call), and returns the pairs
// whose verdict changed. A pair is evaluated only when something it depends on changed:
// the callee's bundle for inbound, the caller's bundle for outbound, either one's SPIFFE
// ID or address; so one changed client policy costs a row and a column, not the matrix.
// A decision stopped at a bound of the revision's limits is an error naming the policy
// and file: the first one ends the comparison.
func Compare(ctx context.Context, base, head Revision) (*Result, error) {
	// Tiers with the same content decide the same in both revisions: one decider each.
	shared, decisions, hashes := map[string]*policy.Decider{}, map[decisionKey]policy.Decision{}, fingerprints{}
	b, h := newSide(base, shared, decisions, hashes), newSide(head, shared, decisions, hashes)
	b.name, h.name = "base", "head"
	res := &Result{Identities: head.Identities}
	for _, id := range base.Identities {
		if _, ok := h.byKey[id.Key()]; !ok {
			res.Removed = append(res.Removed, id)
		}
	}
	all := unionKeys(base.Identities, head.Identities)
	visit := func(caller, callee string) error {
		if b.has(caller, callee) || h.has(caller, callee) {
			res.Pairs++
		}
		before, after, n, changed := compare(ctx, b, h, caller, callee)
		if err := stoppedError(ctx, b, h); err != nil {
			return err
		}
		res.Evaluated += n
		if n > 0 {
			res.Considered++
		}
		if changed {
			ch := Change{Caller: h.identity(caller, b), Callee: h.identity(callee, b), Before: before, After: after}
			ch.CrossNamespace = ch.Caller.Namespace != ch.Callee.Namespace
			ch.Causes = causes(b, h, caller, callee, before, after)
			res.Changes = append(res.Changes, ch)
		}
		return nil
	}
	// A pair of identities that are in both revisions with the same ID, address and
	// tiers decides alike in both (compare would say so without a decision): those
	// pairs are counted, and only the rows and columns of the others visited.
	steady := make([]bool, len(all))
	var moved []string
	for i, k := range all {
		x, inBase := b.byKey[k]
		y, inHead := h.byKey[k]
		steady[i] = inBase && inHead && x.ID == y.ID && x.Host == y.Host && b.hashes[k] == h.hashes[k]
		if !steady[i] {
			moved = append(moved, k)
		}
	}
	n := len(all) - len(moved)
	res.Pairs += n * (n - 1)
	for i, caller := range all {
		callees := all
		if steady[i] {
			callees = moved
		}
		for _, callee := range callees {
			if caller == callee {
				continue
			}
			if err := visit(caller, callee); err != nil {
				return nil, err
			}
		}
	}
	if len(head.Identities) <= MatrixLimit {
		res.Matrix, res.BaseMatrix = make([][]Verdict, len(head.Identities)), make([][]Verdict, len(head.Identities))
		for i, caller := range head.Identities {
			res.Matrix[i], res.BaseMatrix[i] = make([]Verdict, len(head.Identities)), make([]Verdict, len(head.Identities))
			for j, callee := range head.Identities {
				if i == j {
					continue
				}
				res.Matrix[i][j], _ = h.verdict(ctx, caller.Key(), callee.Key())
				res.BaseMatrix[i][j], _ = b.verdict(ctx, caller.Key(), callee.Key())
				if err := stoppedError(ctx, b, h); err != nil {
					return nil, err
				}
			}
		}
	}
	return res, nil
}

// side is one revision ready to decide: identities by key, and the deciders of their
// bundles, built when first needed.
type side struct {
	rev    Revision
	byKey  map[string]renderers.Identity
	tiers  map[string]policy.Tiers
	hashes map[string]string // a fingerprint of each identity's tiers
	// deciders by fingerprint, and their decisions by what they can depend on, shared
	// by both sides.
	deciders  map[string]*policy.Decider
	decisions map[decisionKey]policy.Decision
	// verdicts by pair, kept for Compare's report (nil in a Graph, whose decisions are
	// kept by what they depend on and whose pairs are too many to keep).
	verdicts map[[2]string]Verdict
	// stopped is the first decision of the revision stopped at a bound; Compare then
	// fails, so a hostile policy costs a preview one bounded evaluation, not one per pair.
	stopped *stopped
	name    string // "base" or "head"
}

// stopped is a decision stopped at a bound, to be located.
type stopped struct {
	decider        *policy.Decider
	pt             policy.Point
	input          any
	caller, callee string
	exceeded       *gitopsv1.LimitError
}

func newSide(r Revision, deciders map[string]*policy.Decider, decisions map[decisionKey]policy.Decision, hashes fingerprints) *side {
	s := &side{rev: r, byKey: map[string]renderers.Identity{}, tiers: map[string]policy.Tiers{}, hashes: map[string]string{}, deciders: deciders,
		decisions: decisions, verdicts: map[[2]string]Verdict{}}
	for _, id := range r.Identities {
		s.byKey[id.Key()] = id
		t := r.Policies.Tiers(id.Namespace, id.ServiceAccount)
		s.tiers[id.Key()] = t
		s.hashes[id.Key()] = hashes.of(t)
	}
	return s
}

func (s *side) has(caller, callee string) bool {
	_, a := s.byKey[caller]
	_, b := s.byKey[callee]
	return a && b
}

// identity is the identity of key in this revision, else in other (a removed one).
func (s *side) identity(key string, other *side) renderers.Identity {
	if id, ok := s.byKey[key]; ok {
		return id
	}
	return other.byKey[key]
}

// decider builds (once) the decider of an identity's bundle. A bundle that does not
// compile decides nothing: every call at it is denied, with the reason.
func (s *side) decider(ctx context.Context, key string) (*policy.Decider, error) {
	fp := s.hashes[key]
	if d, ok := s.deciders[fp]; ok {
		return d, nil
	}
	b, err := policy.Build(s.tiers[key])
	if err != nil {
		return nil, err
	}
	d, err := policy.NewDecider(ctx, b, s.rev.Limits)
	if err != nil {
		return nil, err
	}
	s.deciders[fp] = d
	return d, nil
}

// verdict of caller → callee, and how many decisions it took to know.
func (s *side) verdict(ctx context.Context, caller, callee string) (Verdict, int) {
	if v, ok := s.verdicts[[2]string{caller, callee}]; ok {
		return v, 0
	}
	if !s.has(caller, callee) {
		return Verdict{}, 0
	}
	call := s.call(caller, callee)
	v := Verdict{Exists: true}
	v.Inbound = s.decide(ctx, callee, Points[0], call)
	v.Outbound = s.decide(ctx, caller, Points[1], call)
	v.Allow = v.Inbound.Allow && v.Outbound.Allow
	if s.verdicts != nil {
		s.verdicts[[2]string{caller, callee}] = v
	}
	return v, 2
}

// call is the representative request from caller to callee in this revision.
func (s *side) call(caller, callee string) policy.Call {
	a, b := s.byKey[caller], s.byKey[callee]
	c := policy.Call{Caller: policy.Party{ID: a.ID, Host: a.Host}, Callee: policy.Party{ID: b.ID, Host: b.Host}}
	if renderers.AuthenticatesPeer(a, b) {
		c.PeerID = a.ID
	}
	return c
}

func (s *side) decide(ctx context.Context, owner string, pt policy.Point, call policy.Call) policy.Decision {
	if s.stopped != nil {
		return policy.Decision{Reason: "not evaluated: an earlier decision of the revision was stopped at a bound"}
	}
	d, err := s.decider(ctx, owner)
	if err != nil {
		return policy.Decision{Reason: "the bundle does not compile: " + err.Error()}
	}
	f, known := d.Reads(pt)
	var key decisionKey
	if known {
		key = keyOf(s.hashes[owner], pt, f, call)
		if dec, ok := s.decisions[key]; ok {
			return dec
		}
	}
	input := call.Input(pt)
	dec := d.Decide(ctx, pt, input)
	if dec.Exceeded != nil {
		s.stopped = &stopped{decider: d, pt: pt, input: input, caller: call.Caller.ID, callee: call.Callee.ID, exceeded: dec.Exceeded}
		return dec
	}
	if known && ctx.Err() == nil { // a cancelled evaluation's deny is not the policy's
		s.decisions[key] = dec
	}
	return dec
}

// stoppedError is the error of Compare when a decision of either side was stopped at a
// bound: who may call whom cannot be told (the data plane denies the call), and the
// message names the policy, its file and the limit.
func stoppedError(ctx context.Context, sides ...*side) error {
	for _, s := range sides {
		st := s.stopped
		if st == nil {
			continue
		}
		e := st.decider.Locate(ctx, st.pt, st.input, st.exceeded)
		if e.Name != "" {
			e.File = s.rev.Sources[e.Namespace+"/"+e.Name]
		}
		return fmt.Errorf("the %s revision: deciding %s for %s calling %s: %w", s.name, st.pt, st.caller, st.callee, e)
	}
	return nil
}

// compare decides caller → callee in both revisions as cheaply as it can: a decision
// whose bundle and inputs are the same in both is the same in both, so it is made once,
// and only when the other decision of the pair flips (otherwise the verdict cannot
// change). It returns both verdicts, the decisions made, and whether the verdict changed.
func compare(ctx context.Context, b, h *side, caller, callee string) (before, after Verdict, decisions int, changed bool) {
	if b.has(caller, callee) != h.has(caller, callee) {
		before, n1 := b.verdict(ctx, caller, callee)
		after, n2 := h.verdict(ctx, caller, callee)
		return before, after, n1 + n2, true
	}
	if !h.has(caller, callee) {
		return Verdict{}, Verdict{}, 0, false
	}
	same := func(k string) bool {
		x, y := b.byKey[k], h.byKey[k]
		return x.ID == y.ID && x.Host == y.Host
	}
	ids := same(caller) && same(callee)
	inSame := ids && b.hashes[callee] == h.hashes[callee]
	outSame := ids && b.hashes[caller] == h.hashes[caller]
	if inSame && outSame {
		return Verdict{}, Verdict{}, 0, false
	}
	if !inSame && !outSame {
		before, n1 := b.verdict(ctx, caller, callee)
		after, n2 := h.verdict(ctx, caller, callee)
		return before, after, n1 + n2, before.Allow != after.Allow
	}
	// One decision changed sides; the other is shared.
	changedPt, sharedPt, changedOwner, sharedOwner := Points[0], Points[1], callee, caller
	if inSame {
		changedPt, sharedPt, changedOwner, sharedOwner = Points[1], Points[0], caller, callee
	}
	dB := b.decide(ctx, changedOwner, changedPt, b.call(caller, callee))
	dH := h.decide(ctx, changedOwner, changedPt, h.call(caller, callee))
	decisions = 2
	if dB.Allow == dH.Allow {
		return Verdict{}, Verdict{}, decisions, false
	}
	shared := h.decide(ctx, sharedOwner, sharedPt, h.call(caller, callee))
	decisions++
	if !shared.Allow {
		return Verdict{}, Verdict{}, decisions, false // refused either way
	}
	before, after = Verdict{Exists: true, Allow: dB.Allow}, Verdict{Exists: true, Allow: dH.Allow}
	if inSame {
		before.Inbound, after.Inbound, before.Outbound, after.Outbound = shared, shared, dB, dH
	} else {
		before.Inbound, after.Inbound, before.Outbound, after.Outbound = dB, dH, shared, shared
	}
	return before, after, decisions, true
}

// fingerprints identifies the content of identities' tiers. The same policy objects
// make up many identities' tiers (the global tier all of them), so each is hashed once.
type fingerprints map[*agentv1.AuthorizationPolicy]string

func (f fingerprints) of(t policy.Tiers) string {
	hash := func(tier string, p *agentv1.AuthorizationPolicy) string {
		h, ok := f[p]
		if !ok {
			h = policy.PolicyHash(p)
			f[p] = h
		}
		return tier + ":" + p.Namespace + "/" + p.Name + "=" + h
	}
	var parts []string
	for _, p := range t.Global {
		parts = append(parts, hash("g", p))
	}
	for _, p := range t.Namespace {
		parts = append(parts, hash("n", p))
	}
	if t.Client != nil {
		parts = append(parts, hash("c", t.Client))
	}
	return strings.Join(parts, ",")
}

// causes are the policy files that differ in the tiers that decided the change.
func causes(b, h *side, caller, callee string, before, after Verdict) []string {
	var owners []string
	if before.Inbound.Allow != after.Inbound.Allow || !before.Exists || !after.Exists {
		owners = append(owners, callee)
	}
	if before.Outbound.Allow != after.Outbound.Allow || !before.Exists || !after.Exists {
		owners = append(owners, caller)
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range owners {
		for _, c := range tierDiff(b.tiers[o], h.tiers[o], b.rev.Sources, h.rev.Sources) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 && (!before.Exists || !after.Exists) {
		out = append(out, "the workload was added or removed")
	}
	return out
}

// tierDiff lists the files of the policies that differ between two tier sets.
func tierDiff(before, after policy.Tiers, srcBefore, srcAfter map[string]string) []string {
	index := func(t policy.Tiers) map[string]*agentv1.AuthorizationPolicy {
		m := map[string]*agentv1.AuthorizationPolicy{}
		for _, p := range append(append(slices.Clone(t.Global), t.Namespace...), clientOf(t)...) {
			m[p.Namespace+"/"+p.Name] = p
		}
		return m
	}
	b, a := index(before), index(after)
	var out []string
	for _, key := range keys(b, a) {
		pb, pa := b[key], a[key]
		src := srcAfter[key]
		if src == "" {
			src = srcBefore[key]
		}
		if src == "" {
			src = "(generated)"
		}
		var files []string
		switch {
		case pb == nil:
			files = append(files, "added")
		case pa == nil:
			files = append(files, "removed")
		default:
			files = changedFiles(pb, pa)
		}
		if len(files) > 0 {
			out = append(out, fmt.Sprintf("%s: AuthorizationPolicy %s (%s)", src, key, strings.Join(files, ", ")))
		}
	}
	return out
}

func clientOf(t policy.Tiers) []*agentv1.AuthorizationPolicy {
	if t.Client == nil {
		return nil
	}
	return []*agentv1.AuthorizationPolicy{t.Client}
}

// changedFiles are the Rego files (not tests) whose content differs, or that one side lacks.
func changedFiles(before, after *agentv1.AuthorizationPolicy) []string {
	files := func(p *agentv1.AuthorizationPolicy) map[string]string {
		m := map[string]string{}
		for _, rp := range p.Spec.Policies {
			if !policy.IsTestFile(rp.Path) {
				m[rp.Path] = rp.Content
			}
		}
		return m
	}
	b, a := files(before), files(after)
	var out []string
	for _, path := range keys(b, a) {
		if b[path] != a[path] {
			out = append(out, path)
		}
	}
	if before.EffectiveScope() != after.EffectiveScope() {
		out = append(out, "scope")
	}
	return out
}

// keys are the sorted keys of all the maps.
func keys[V any](maps ...map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func unionKeys(a, b []renderers.Identity) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]renderers.Identity{a, b} {
		for _, id := range list {
			if !seen[id.Key()] {
				seen[id.Key()] = true
				out = append(out, id.Key())
			}
		}
	}
	slices.Sort(out)
	return out
}
