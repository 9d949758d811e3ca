package policy

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Decision is the outcome at one decision point.
type Decision struct {
	Allow bool `json:"allow"`
	// Reason says why, in words: which tier refused, or the policy's own reason.
	Reason string `json:"reason"`
	// Exceeded is the bound the evaluation was stopped at (limits.regoTimeout,
	// limits.regoMemory), nil when it was not; the decision is then a deny, and
	// Decider.Locate says where the evaluation was.
	Exceeded *gitopsv1.LimitError `json:"-"`
}

// Decider evaluates one bundle's decisions. Its queries are prepared once, when it is
// made, so a decision is an evaluation only. It is safe for concurrent use.
type Decider struct {
	bundle  *Bundle
	queries map[Point]rego.PreparedEvalQuery
	// tiered marks the points whose global package combines the tiers through ns_ok and
	// client_ok, as trustsync's default does; only there can a deny name a tier.
	tiered map[Point]bool
	limits gitopsv1.Limits
	// reasons are explain's words naming the bundle's tiers, made once: an allow
	// allocates none.
	reasons tierReasons
	// constant are the decisions of the points no input can change (see constantAt),
	// evaluated once.
	constant map[Point]Decision
	// direct are the points whose global module is the default combiner: they are
	// decided from the tiers' rules themselves (see tierQueries).
	direct map[Point]*tierQueries
	// memos remember the decisions of the points whose rules read known input fields
	// only (see memo).
	memos map[Point]*memo
}

// tierQueries decide a point whose global module is trustsync's default combiner by
// querying the tiers' rules alone, which is what the combiner computes: querying the
// global package makes OPA build it whole, the tiers' package documents included (for
// its `not data.<tier>` rules), on every request. A nil query is a tier the bundle has
// no module for, whose rules are known to be undefined.
type tierQueries struct {
	override, nsAllow, clientAllow *rego.PreparedEvalQuery
	// requireClient is the combiner's requireClientPolicy variant: no client policy
	// denies.
	requireClient bool
}

// tierReasons are the reasons of decisions that name the bundle's tiers.
type tierReasons struct {
	agreeing, forced                                     string
	refusedBoth, refusedNS, refusedClient, refusedGlobal string
}

func newTierReasons(t Tiers) tierReasons {
	return tierReasons{
		agreeing:      agreeing(t),
		forced:        "forced by the namespace tier's override (" + names(t.Namespace) + ")",
		refusedBoth:   "refused by the namespace tier (" + names(t.Namespace) + ") and the client tier (" + clientName(t) + ")",
		refusedNS:     "refused by the namespace tier (" + names(t.Namespace) + ")",
		refusedClient: "refused by the client tier (" + clientName(t) + ")",
		refusedGlobal: "refused by the global tier (" + names(t.Global) + ")",
	}
}

// clientName is the client tier's name, "" when it has none (no reason then says it).
func clientName(t Tiers) string {
	if t.Client == nil {
		return ""
	}
	return name(t.Client)
}

// NewDecider prepares the four decision queries of b. Each decision is bounded by
// l.RegoDeadline() and l.RegoBytes() (the Platform defaults where l leaves them unset).
func NewDecider(ctx context.Context, b *Bundle, l gitopsv1.Limits) (*Decider, error) {
	d := &Decider{bundle: b, queries: make(map[Point]rego.PreparedEvalQuery, len(Points)), tiered: map[Point]bool{}, limits: l, reasons: newTierReasons(b.Tiers)}
	for _, pt := range Points {
		d.tiered[pt] = len(b.compiler.GetRulesExact(ast.MustParseRef(Query(pt)+".ns_ok"))) > 0 &&
			len(b.compiler.GetRulesExact(ast.MustParseRef(Query(pt)+".client_ok"))) > 0
		q, err := rego.New(rego.Query(Query(pt)), rego.Compiler(b.compiler), rego.Capabilities(Capabilities())).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("preparing the %s decision of bundle %s: %w", pt, b.Revision[:12], err)
		}
		d.queries[pt] = q
	}
	for _, pt := range Points {
		if tq, err := directAt(ctx, b, pt); err != nil {
			return nil, err
		} else if tq != nil {
			if d.direct == nil {
				d.direct = map[Point]*tierQueries{}
			}
			d.direct[pt] = tq
		}
	}
	for _, pt := range Points {
		if constantAt(b, pt) {
			if d.constant == nil {
				d.constant = map[Point]Decision{}
			}
			d.constant[pt], _ = d.evaluate(ctx, pt, inputOption(nil))
		} else if m := newMemo(b.compiler, ast.MustParseRef(Query(pt))); m != nil {
			if d.memos == nil {
				d.memos = map[Point]*memo{}
			}
			d.memos[pt] = m
		}
	}
	return d, nil
}

// directAt prepares the tier queries of pt when its global module is the default
// combiner (either variant) alone in its package; nil otherwise.
func directAt(ctx context.Context, b *Bundle, pt Point) (*tierQueries, error) {
	global := "data." + Package(agentv1.ScopeGlobal, pt)
	ns, client := "data."+Package(agentv1.ScopeNamespace, pt), "data."+Package(agentv1.ScopeClient, pt)
	var tq *tierQueries
	var hasNS, hasClient bool
	under := func(pkg, base string) bool { return pkg == base || strings.HasPrefix(pkg, base+".") }
	for name, m := range b.compiler.Modules {
		pkg := m.Package.Path.String()
		switch {
		case under(pkg, ns):
			hasNS = true
		case under(pkg, client):
			hasClient = true
		case under(pkg, global):
			f, ok := b.byName[name]
			switch {
			case !ok || pkg != global || tq != nil:
				return nil, nil
			case f.Content == combiner(pt, false):
				tq = &tierQueries{}
			case f.Content == combiner(pt, true):
				tq = &tierQueries{requireClient: true}
			default:
				return nil, nil
			}
		}
	}
	if tq == nil {
		return nil, nil
	}
	prepare := func(ref string) (*rego.PreparedEvalQuery, error) {
		q, err := rego.New(rego.Query(ref), rego.Compiler(b.compiler), rego.Capabilities(Capabilities())).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("preparing %s of bundle %s: %w", ref, b.Revision[:12], err)
		}
		return &q, nil
	}
	var err error
	if hasNS {
		if tq.override, err = prepare(ns + ".override"); err != nil {
			return nil, err
		}
		if tq.nsAllow, err = prepare(ns + ".allow"); err != nil {
			return nil, err
		}
	}
	if hasClient {
		if tq.clientAllow, err = prepare(client + ".allow"); err != nil {
			return nil, err
		}
	}
	return tq, nil
}

// decideDirect computes what the default combiner would: allow on the namespace's
// override, else when both tiers allow (a tier without a module allows, but for the
// client tier under requireClientPolicy). A rule holds when it is defined and not
// false, as a rule body's expression does. The decision object is then explained as
// the combiner's would be.
// It is false only when an evaluation failed; the decision is then that failure's deny.
func (d *Decider) decideDirect(ctx context.Context, w *watch, pt Point, tq *tierQueries, input rego.EvalOption) (Decision, bool) {
	holds := func(q *rego.PreparedEvalQuery) (bool, *Decision) {
		rs, err := d.eval(ctx, w, *q, input)
		if err != nil {
			dec := d.evalError(ctx, w, err)
			return false, &dec
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			return false, nil
		}
		switch v := rs[0].Expressions[0].Value.(type) {
		case ast.Boolean:
			return bool(v), nil
		case bool:
			return v, nil
		}
		return true, nil
	}
	nsOK, clientOK, override := true, !tq.requireClient, false
	if tq.override != nil {
		var failed *Decision
		if override, failed = holds(tq.override); failed != nil {
			return *failed, false
		}
		if nsOK, failed = holds(tq.nsAllow); failed != nil {
			return *failed, false
		}
	}
	if tq.clientAllow != nil {
		var failed *Decision
		if clientOK, failed = holds(tq.clientAllow); failed != nil {
			return *failed, false
		}
	}
	obj := ast.NewObject(ast.Item(allowKey, ast.BooleanTerm(override || (nsOK && clientOK))))
	if nsOK {
		obj.Insert(nsOKKey, ast.BooleanTerm(true))
	}
	if clientOK {
		obj.Insert(clientOKKey, ast.BooleanTerm(true))
	}
	return d.explain(pt, obj), true
}

// constantAt says the decision at pt reads no input: the point's global module is
// trustsync's default combiner (which reads only the tiers' packages) and no other
// module of the bundle is in the point's namespace or client package or below them,
// so both tiers are absent and the combiner's answer is the same for every request.
// Most bundles have no response policies: this saves the sidecar two of its four
// evaluations per call.
func constantAt(b *Bundle, pt Point) bool {
	global := "data." + Package(agentv1.ScopeGlobal, pt)
	tiers := []string{"data." + Package(agentv1.ScopeNamespace, pt), "data." + Package(agentv1.ScopeClient, pt)}
	found := false
	for name, m := range b.compiler.Modules {
		pkg := m.Package.Path.String()
		for _, t := range tiers {
			if pkg == t || strings.HasPrefix(pkg, t+".") {
				return false
			}
		}
		if pkg == global || strings.HasPrefix(pkg, global+".") {
			f, ok := b.byName[name]
			if !ok || pkg != global || f.Content != combiner(pt, false) {
				return false
			}
			found = true
		}
	}
	return found
}

// Query is the document the sidecar queries at a point, e.g. data.authbridge.inbound.request.
func Query(pt Point) string { return "data." + Package(agentv1.ScopeGlobal, pt) }

// Decide evaluates the decision at pt for input (the AuthBridge input document). It
// fails closed: an undefined decision, a result of the wrong shape, an evaluation error
// and an evaluation stopped at a bound are all a deny, with the reason. The shapes
// accepted are the reference plugin's: a bare boolean, or an object with a boolean allow
// and an optional string reason. An input that is an ast.Value is decided as
// DecideValue does; any other is converted by OPA, on every evaluation.
func (d *Decider) Decide(ctx context.Context, pt Point, input any) Decision {
	if _, direct := d.direct[pt]; direct && input != nil {
		if _, ok := input.(ast.Value); !ok {
			// The direct path evaluates up to three queries: the input is converted
			// once, as OPA converts it, not once per query.
			x := input
			if err := util.RoundTripFast(&x); err != nil {
				return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
			}
			v, err := ast.InterfaceToValue(x)
			if err != nil {
				return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
			}
			return d.decide(ctx, pt, v)
		}
	}
	if v, ok := input.(ast.Value); ok {
		return d.decide(ctx, pt, v)
	}
	dec, _ := d.evaluate(ctx, pt, inputOption(input))
	return dec
}

// DecideValue is Decide for an input document already in OPA's form (built with
// ast.NewObject, or converted once with ast.InterfaceToValue), which the evaluation
// then reads as it is: the sidecar's request path. A nil input is null, as Decide's.
// Nothing may change input while it is decided.
func (d *Decider) DecideValue(ctx context.Context, pt Point, input ast.Value) Decision {
	if input == nil {
		input = ast.NullValue
	}
	return d.decide(ctx, pt, input)
}

// DecideInput is DecideValue with an input that build makes knowing the fields the
// decision at pt can read: it may leave the others out. A point no input can change is
// decided without calling build; an error of build is a deny.
func (d *Decider) DecideInput(ctx context.Context, pt Point, build func(Fields) (ast.Value, error)) Decision {
	if c, ok := d.constant[pt]; ok {
		return c
	}
	var f Fields
	if m := d.memos[pt]; m != nil {
		f = m.fields
	}
	in, err := build(f)
	if err != nil {
		return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
	}
	return d.DecideValue(ctx, pt, in)
}

// Reads are the top-level input keys the decision at pt can read (none at a point no
// input can change); ok is false when it can read any, so every input must be decided.
// Two inputs alike in these keys get the same decision.
func (d *Decider) Reads(pt Point) (f Fields, ok bool) {
	if _, constant := d.constant[pt]; constant {
		return Fields{some: true}, true
	}
	if m := d.memos[pt]; m != nil {
		return m.fields, true
	}
	return Fields{}, false
}

// Remembers reports whether a repeated input is decided at pt without an evaluation:
// the point is constant, or its rules read known input fields only and the memo keeps
// its decisions.
func (d *Decider) Remembers(pt Point) bool {
	_, constant := d.constant[pt]
	return constant || d.memos[pt] != nil
}

// inputOption hands input to OPA: an ast.Value as it is, anything else for OPA to
// convert (which would take an ast.Value apart as a Go struct).
func inputOption(input any) rego.EvalOption {
	if v, ok := input.(ast.Value); ok {
		return rego.EvalParsedInput(v)
	}
	return rego.EvalInput(input)
}

// decide is the decision at pt for an input in OPA's form: remembered when the point
// has a memo, evaluated otherwise. A failed evaluation is not remembered: a bound or
// a cancelled context may not stop the next.
func (d *Decider) decide(ctx context.Context, pt Point, input ast.Value) Decision {
	m := d.memos[pt]
	var key string
	if m != nil {
		var ok bool
		if key, ok = m.key(input); !ok {
			m = nil
		} else if dec, ok := m.get(key); ok {
			return dec
		}
	}
	dec, ok := d.evaluate(ctx, pt, rego.EvalParsedInput(input))
	if m != nil && ok {
		m.put(key, dec)
	}
	return dec
}

// evaluate decides at pt by evaluating its queries, all under one watch of the
// Decider's bounds: they bound the decision; it is false when an evaluation failed (the
// decision is then that failure's deny).
func (d *Decider) evaluate(ctx context.Context, pt Point, input rego.EvalOption) (Decision, bool) {
	if c, ok := d.constant[pt]; ok {
		return c, true
	}
	w := startWatch(ctx, time.Now().Add(d.limits.RegoDeadline()), d.limits.RegoBytes(), nil)
	defer w.done()
	if tq, ok := d.direct[pt]; ok {
		return d.decideDirect(ctx, w, pt, tq, input)
	}
	q, ok := d.queries[pt]
	if !ok {
		return Decision{Reason: fmt.Sprintf("%q is not a decision point", pt)}, true
	}
	rs, err := d.eval(ctx, w, q, input)
	if err != nil {
		return d.evalError(ctx, w, err), false
	}
	return d.result(pt, rs), true
}

// result reads the decision query's result set.
func (d *Decider) result(pt Point, rs rego.ResultSet) Decision {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{Reason: fmt.Sprintf("no policy decides %s (an undefined decision is a deny)", pt)}
	}
	switch v := rs[0].Expressions[0].Value.(type) {
	case bool: // an expression OPA did not capture: true
		if v {
			return Decision{Allow: true, Reason: "the policy returned true"}
		}
		return Decision{Reason: "the policy returned false"}
	case ast.Boolean:
		if v {
			return Decision{Allow: true, Reason: "the policy returned true"}
		}
		return Decision{Reason: "the policy returned false"}
	case ast.Object:
		return d.explain(pt, v)
	case ast.Value:
		// Another shape: said as the Go value OPA would have made of it.
		x, err := ast.JSON(v)
		if err != nil {
			return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
		}
		return Decision{Reason: fmt.Sprintf("the decision at %s is a %T, not a boolean or {allow, reason}", pt, x)}
	default:
		return Decision{Reason: fmt.Sprintf("the decision at %s is a %T, not a boolean or {allow, reason}", pt, v)}
	}
}

// evalError is the deny of an evaluation that failed: stopped at a bound, abandoned,
// or an error of the policy.
func (d *Decider) evalError(ctx context.Context, w *watch, err error) Decision {
	if le := w.limitError(&d.limits); le != nil {
		return Decision{Reason: "the evaluation was stopped: " + le.Error(), Exceeded: le}
	}
	if ctx.Err() != nil {
		return Decision{Reason: "the evaluation was abandoned: " + ctx.Err().Error()}
	}
	return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
}

// noMetrics: a decision keeps none of OPA's own timers (the sidecar times decisions
// itself), so an evaluation does not allocate them.
var noMetrics = rego.EvalMetrics(metrics.NoOp())

// keepAST leaves the decision as OPA computed it: explain reads the object's few
// fields where they are rather than OPA converting the whole object to Go first.
var keepAST = rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil })

// eval runs q under w, the watch of the decision's bounds. The watch is OPA's
// cancellation, so OPA starts no goroutine of its own to follow ctx.
func (d *Decider) eval(ctx context.Context, w *watch, q rego.PreparedEvalQuery, input rego.EvalOption) (rego.ResultSet, error) {
	return q.Eval(ctx, input, rego.EvalExternalCancel(w), noMetrics, keepAST, rego.EvalVirtualCache(newRuleCache()))
}

// Locate says where the evaluation of a decision that Decide stopped at the bound
// exceeded was: the policy, field, file and line, with exceeded as the error (no policy
// when the place is in none). It evaluates the decision again with a tracer that keeps
// the last location, for a quarter of the time bound (by then it is in the loop that
// would have run past it) and after a GC (so the first run's garbage is not the
// second's baseline). It is for the CLI and the previews; the data plane denies
// without it.
func (d *Decider) Locate(ctx context.Context, pt Point, input any, exceeded *gitopsv1.LimitError) *Error {
	q, ok := d.queries[pt]
	if !ok {
		return &Error{Err: exceeded}
	}
	runtime.GC()
	w := startWatch(ctx, time.Now().Add(d.limits.RegoDeadline()/4), d.limits.RegoBytes(), nil)
	defer w.done()
	last := &lastLocation{stopped: w}
	_, _ = q.Eval(ctx, inputOption(input), rego.EvalExternalCancel(w), rego.EvalQueryTracer(last))
	return d.bundle.errorAt(last.file, last.row, exceeded)
}

// errorAt is err located at a line of a module of the bundle, as an *Error naming the
// AuthorizationPolicy, field and file; without a policy when the module is in none.
func (b *Bundle) errorAt(module string, line int, err error) *Error {
	f, ok := b.byName[module]
	if !ok || f.Policy == "" {
		return &Error{Err: err}
	}
	e := &Error{Path: f.Source, Line: line, Field: "spec.policies", Err: err}
	if ns, n, ok := strings.Cut(f.Policy, "/"); ok {
		e.Namespace, e.Name = ns, n
	} else { // a bundle read from an archive names policies without namespaces
		e.Name = f.Policy
	}
	for _, p := range append(append(slices.Clone(b.Tiers.Global), b.Tiers.Namespace...), clientOf(b.Tiers)...) {
		if p.Namespace == e.Namespace && p.Name == e.Name {
			if i := slices.IndexFunc(p.Spec.Policies, func(rp agentv1.RegoPolicy) bool { return rp.Path == f.Source }); i >= 0 {
				e.Field = fmt.Sprintf("spec.policies[%d].content", i)
			}
		}
	}
	return e
}

func clientOf(t Tiers) []*agentv1.AuthorizationPolicy {
	if t.Client == nil {
		return nil
	}
	return []*agentv1.AuthorizationPolicy{t.Client}
}

// lastLocation is a tracer that keeps the location of the last event before the
// evaluation was stopped (unwinding then visits the enclosing rules).
type lastLocation struct {
	stopped *watch
	file    string
	row     int
}

func (l *lastLocation) Enabled() bool               { return true }
func (l *lastLocation) Config() topdown.TraceConfig { return topdown.TraceConfig{} }
func (l *lastLocation) TraceEvent(e topdown.Event) {
	if e.Location != nil && e.Location.File != "" && !l.stopped.Cancelled() {
		l.file, l.row = e.Location.File, e.Location.Row
	}
}

// explain reads a decision object. trustsync's default global policy exposes its
// ns_ok and client_ok rules, so a deny can name the tier that refused.
func (d *Decider) explain(pt Point, v ast.Object) Decision {
	allow, ok := field(v, allowKey).(ast.Boolean)
	if !ok {
		if slices.Contains(d.bundle.FailClosed, pt) {
			return Decision{Reason: fmt.Sprintf("no global policy decides %s (fail closed)", pt)}
		}
		return Decision{Reason: fmt.Sprintf("the decision at %s has no boolean allow", pt)}
	}
	if r, ok := field(v, reasonKey).(ast.String); ok && r != "" {
		return Decision{Allow: bool(allow), Reason: string(r)}
	}
	t, r := d.bundle.Tiers, &d.reasons
	// Rules that do not hold are undefined, so absent from the object: only true counts.
	nsOK, clientOK := field(v, nsOKKey) == ast.Boolean(true), field(v, clientOKKey) == ast.Boolean(true)
	if allow {
		// In a combining global policy an allow without both tiers agreeing can only
		// come from the namespace override.
		if d.tiered[pt] && (!nsOK || !clientOK) {
			return Decision{Allow: true, Reason: r.forced}
		}
		return Decision{Allow: true, Reason: r.agreeing}
	}
	if slices.Contains(d.bundle.FailClosed, pt) {
		return Decision{Reason: fmt.Sprintf("no global policy decides %s (fail closed)", pt)}
	}
	if d.tiered[pt] {
		switch {
		case !nsOK && len(t.Namespace) > 0 && !clientOK && t.Client != nil:
			return Decision{Reason: r.refusedBoth}
		case !nsOK && len(t.Namespace) > 0:
			return Decision{Reason: r.refusedNS}
		case !clientOK && t.Client != nil:
			return Decision{Reason: r.refusedClient}
		case !clientOK:
			return Decision{Reason: "the identity has no client policy, and the platform requires one"}
		}
	}
	return Decision{Reason: r.refusedGlobal}
}

// The fields of a decision object explain reads.
var (
	allowKey    = ast.StringTerm("allow")
	reasonKey   = ast.StringTerm("reason")
	nsOKKey     = ast.StringTerm("ns_ok")
	clientOKKey = ast.StringTerm("client_ok")
)

// field is the value of the decision object's field k, nil when it has none.
func field(o ast.Object, k *ast.Term) ast.Value {
	if t := o.Get(k); t != nil {
		return t.Value
	}
	return nil
}

// String is the verdict and its reason, e.g. "deny: refused by the client tier (…)".
func (d Decision) String() string {
	if d.Allow {
		return "allow: " + d.Reason
	}
	return "deny: " + d.Reason
}

// agreeing lists the tiers that took part in an allow.
func agreeing(t Tiers) string {
	parts := []string{"global (" + names(t.Global) + ")"}
	if len(t.Namespace) > 0 {
		parts = append(parts, "namespace ("+names(t.Namespace)+")")
	}
	if t.Client != nil {
		parts = append(parts, "client ("+name(t.Client)+")")
	}
	return "allowed by " + strings.Join(parts, ", ")
}

// name is namespace/name; a bundle read from an archive knows names only.
func name(p *agentv1.AuthorizationPolicy) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

func names(ps []*agentv1.AuthorizationPolicy) string {
	if len(ps) == 0 {
		return "none"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = name(p)
	}
	return strings.Join(out, ", ")
}
