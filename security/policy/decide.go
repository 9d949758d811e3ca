package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// Decision is the outcome at one decision point.
type Decision struct {
	Allow bool `json:"allow"`
	// Reason says why, in words: which tier refused, or the policy's own reason.
	Reason string `json:"reason"`
}

// Decider evaluates one bundle's decisions. Its queries are prepared once, when it is
// made, so a decision is an evaluation only. It is safe for concurrent use.
type Decider struct {
	bundle  *Bundle
	queries map[Point]rego.PreparedEvalQuery
	// tiered marks the points whose global package combines the tiers through ns_ok and
	// client_ok, as trustsync's default does; only there can a deny name a tier.
	tiered map[Point]bool
}

// NewDecider prepares the four decision queries of b.
func NewDecider(ctx context.Context, b *Bundle) (*Decider, error) {
	d := &Decider{bundle: b, queries: make(map[Point]rego.PreparedEvalQuery, len(Points)), tiered: map[Point]bool{}}
	for _, pt := range Points {
		d.tiered[pt] = len(b.compiler.GetRulesExact(ast.MustParseRef(Query(pt)+".ns_ok"))) > 0 &&
			len(b.compiler.GetRulesExact(ast.MustParseRef(Query(pt)+".client_ok"))) > 0
		q, err := rego.New(rego.Query(Query(pt)), rego.Compiler(b.compiler), rego.Capabilities(Capabilities())).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("preparing the %s decision of bundle %s: %w", pt, b.Revision[:12], err)
		}
		d.queries[pt] = q
	}
	return d, nil
}

// Query is the document the sidecar queries at a point, e.g. data.authbridge.inbound.request.
func Query(pt Point) string { return "data." + Package(agentv1.ScopeGlobal, pt) }

// Decide evaluates the decision at pt for input (the AuthBridge input document). It
// fails closed: an undefined decision, a result of the wrong shape and an evaluation
// error are all a deny, with the reason. The shapes accepted are the reference plugin's:
// a bare boolean, or an object with a boolean allow and an optional string reason.
func (d *Decider) Decide(ctx context.Context, pt Point, input any) Decision {
	q, ok := d.queries[pt]
	if !ok {
		return Decision{Reason: fmt.Sprintf("%q is not a decision point", pt)}
	}
	rs, err := q.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return Decision{Reason: "the policy failed to evaluate: " + err.Error()}
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{Reason: fmt.Sprintf("no policy decides %s (an undefined decision is a deny)", pt)}
	}
	switch v := rs[0].Expressions[0].Value.(type) {
	case bool:
		if v {
			return Decision{Allow: true, Reason: "the policy returned true"}
		}
		return Decision{Reason: "the policy returned false"}
	case map[string]any:
		return d.explain(pt, v)
	default:
		return Decision{Reason: fmt.Sprintf("the decision at %s is a %T, not a boolean or {allow, reason}", pt, v)}
	}
}

// explain reads a decision object. trustsync's default global policy exposes its
// ns_ok and client_ok rules, so a deny can name the tier that refused.
func (d *Decider) explain(pt Point, v map[string]any) Decision {
	allow, ok := v["allow"].(bool)
	if !ok {
		if slices.Contains(d.bundle.FailClosed, pt) {
			return Decision{Reason: fmt.Sprintf("no global policy decides %s (fail closed)", pt)}
		}
		return Decision{Reason: fmt.Sprintf("the decision at %s has no boolean allow", pt)}
	}
	if r, ok := v["reason"].(string); ok && r != "" {
		return Decision{Allow: allow, Reason: r}
	}
	t := d.bundle.Tiers
	// Rules that do not hold are undefined, so absent from the object: only true counts.
	nsOK, clientOK := v["ns_ok"] == true, v["client_ok"] == true
	if allow {
		// In a combining global policy an allow without both tiers agreeing can only
		// come from the namespace override.
		if d.tiered[pt] && (!nsOK || !clientOK) {
			return Decision{Allow: true, Reason: "forced by the namespace tier's override (" + names(t.Namespace) + ")"}
		}
		return Decision{Allow: true, Reason: agreeing(t)}
	}
	if slices.Contains(d.bundle.FailClosed, pt) {
		return Decision{Reason: fmt.Sprintf("no global policy decides %s (fail closed)", pt)}
	}
	if d.tiered[pt] {
		switch {
		case !nsOK && len(t.Namespace) > 0 && !clientOK && t.Client != nil:
			return Decision{Reason: "refused by the namespace tier (" + names(t.Namespace) + ") and the client tier (" + name(t.Client) + ")"}
		case !nsOK && len(t.Namespace) > 0:
			return Decision{Reason: "refused by the namespace tier (" + names(t.Namespace) + ")"}
		case !clientOK && t.Client != nil:
			return Decision{Reason: "refused by the client tier (" + name(t.Client) + ")"}
		case !clientOK:
			return Decision{Reason: "the identity has no client policy, and the platform requires one"}
		}
	}
	return Decision{Reason: "refused by the global tier (" + names(t.Global) + ")"}
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

func name(p *agentv1.AuthorizationPolicy) string { return p.Namespace + "/" + p.Name }

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
