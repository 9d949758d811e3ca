package views

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// AppliedRevision is who may call whom on the applied revisions: the agents the Syncs
// report and the AuthorizationPolicies in the cluster, decided by the previews' code.
func AppliedRevision(syncs []*gitopsv1.Sync, aps []*agentv1.AuthorizationPolicy, p *gitopsv1.Platform) access.Revision {
	seen := map[string]bool{}
	var ids []renderers.Identity
	for _, s := range syncs {
		for _, a := range s.Status.Agents {
			id := renderers.Identity{Namespace: a.Namespace, Name: a.Name, Type: a.Type, ServiceAccount: a.ServiceAccount, ID: a.SPIFFEID,
				Host: a.Host, Injected: a.Injected, Mode: a.Mode, MTLS: a.MTLS}
			if seen[id.Key()] {
				continue // two Syncs cannot both own it; the first one says
			}
			seen[id.Key()] = true
			if id.ServiceAccount == "" {
				id.ServiceAccount = a.Name
			}
			if id.ID == "" {
				id.ID = renderers.ServiceAccountID(p.TrustDomain, a.Namespace, id.ServiceAccount)
			}
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b renderers.Identity) int { return cmp.Compare(a.Key(), b.Key()) })
	return access.Revision{Identities: ids, Policies: policy.NewSet(p.Namespace, aps), Sources: map[string]string{}, Limits: p.Limits}
}

// AccessQuery is what the access page is asked: an edge to explain, and a what-if.
type AccessQuery struct {
	// Namespace narrows the matrix to calls from or to it.
	Namespace string
	// From and To select an edge (namespace/name keys).
	From, To string
	// Point, Method and Path are the what-if's; Point is e.g. inbound/request.
	Point        string
	Method, Path string
	// Ask says the what-if form was sent.
	Ask bool
}

// ParseAccessQuery reads ns, from, to, point, method, path and ask, bounded.
func ParseAccessQuery(v url.Values) AccessQuery {
	return AccessQuery{Namespace: clip(v.Get("ns"), 253), From: clip(v.Get("from"), 507), To: clip(v.Get("to"), 507), Point: clip(v.Get("point"), 32),
		Method: strings.ToUpper(clip(v.Get("method"), 16)), Path: clip(v.Get("path"), 1024), Ask: v.Get("ask") != ""}
}

// AccessPage is the access view.
type AccessPage struct {
	Query AccessQuery
	// All are every identity, for the what-if's choices; Identities those the matrix
	// shows; Points the decision points one may ask about.
	All, Identities []renderers.Identity
	Points          []string
	// Matrix is drawn when there are at most MatrixMax identities (in the namespace
	// asked): Matrix[i][j] is Identities[i] calling Identities[j].
	Matrix [][]Cell
	// Groups is the namespace-by-namespace matrix of larger sets.
	Groups     *GroupMatrix
	Namespaces []string
	// Allowed counts the allowed calls, CrossNamespace those across namespaces.
	Allowed, CrossNamespace, Pairs int
	Edge                           *Edge
	WhatIf                         *WhatIf
	// Error is why access cannot be told (a decision stopped at a bound).
	Error string
}

// MatrixMax is the most identities drawn one by one.
const MatrixMax = 40

// Cell is one caller → callee pair of the matrix.
type Cell struct {
	Self, Allow, Cross bool
	From, To           string
}

// GroupMatrix counts allowed calls between namespaces.
type GroupMatrix struct {
	Namespaces []string
	// Allowed[i][j] and Pairs[i][j] are calls from Namespaces[i] to Namespaces[j].
	Allowed, Pairs [][]int
}

// Edge explains one pair: both decisions and the policies of the tiers that made them.
type Edge struct {
	From, To          renderers.Identity
	Verdict           access.Verdict
	Cross             bool
	Inbound, Outbound []string // namespace/name and tier of each deciding policy
}

// WhatIf is one decision asked for.
type WhatIf struct {
	Point    string
	Decision policy.Decision
	Error    string
	Policies []string
}

// NewAccessPage decides what the page shows. Every pair shown or counted is decided
// (once per Graph, which keeps its verdicts).
func NewAccessPage(ctx context.Context, g *access.Graph, q AccessQuery) AccessPage {
	p := AccessPage{Query: q}
	namespaces := map[string]bool{}
	all := g.Identities()
	p.All = all
	for _, pt := range policy.Points {
		p.Points = append(p.Points, pt.String())
	}
	for _, id := range all {
		namespaces[id.Namespace] = true
	}
	p.Namespaces = sortedKeys(namespaces)
	shown := all
	if q.Namespace != "" {
		shown = slices.DeleteFunc(slices.Clone(all), func(id renderers.Identity) bool { return id.Namespace != q.Namespace })
	}
	p.Identities = shown
	index := map[string]int{}
	for i, ns := range p.Namespaces {
		index[ns] = i
	}
	if len(shown) <= MatrixMax {
		p.Matrix = make([][]Cell, len(shown))
	} else {
		n := len(p.Namespaces)
		p.Groups = &GroupMatrix{Namespaces: p.Namespaces, Allowed: grid(n), Pairs: grid(n)}
	}
	// Calls into and out of the namespace asked: its rows against everyone.
	for i, caller := range all {
		for j, callee := range all {
			if q.Namespace != "" && caller.Namespace != q.Namespace && callee.Namespace != q.Namespace {
				continue
			}
			if i == j {
				continue
			}
			if p.Pairs%4096 == 0 && ctx.Err() != nil {
				p.Error, p.Matrix, p.Groups = "not decided: "+ctx.Err().Error(), nil, nil
				return p
			}
			v, err := g.VerdictAt(ctx, i, j)
			if err != nil {
				// Who may call whom cannot be told: no matrix, only why.
				p.Error, p.Matrix, p.Groups = err.Error(), nil, nil
				return p
			}
			p.Pairs++
			cross := caller.Namespace != callee.Namespace
			if v.Allow {
				p.Allowed++
				if cross {
					p.CrossNamespace++
				}
			}
			if p.Groups != nil {
				a, b := index[caller.Namespace], index[callee.Namespace]
				p.Groups.Pairs[a][b]++
				if v.Allow {
					p.Groups.Allowed[a][b]++
				}
			}
		}
	}
	if p.Matrix != nil {
		for i, caller := range shown {
			p.Matrix[i] = make([]Cell, len(shown))
			for j, callee := range shown {
				c := Cell{Self: i == j, From: caller.Key(), To: callee.Key(), Cross: caller.Namespace != callee.Namespace}
				if !c.Self {
					v, _ := g.Verdict(ctx, c.From, c.To) // decided above
					c.Allow = v.Allow
				}
				p.Matrix[i][j] = c
			}
		}
	}
	byKey := map[string]renderers.Identity{}
	for _, id := range all {
		byKey[id.Key()] = id
	}
	if from, ok := byKey[q.From]; ok {
		if to, ok := byKey[q.To]; ok && q.From != q.To {
			v, _ := g.Verdict(ctx, q.From, q.To)
			p.Edge = &Edge{From: from, To: to, Verdict: v, Cross: from.Namespace != to.Namespace,
				Inbound: tierNames(g.Tiers(q.To), access.Points[0]), Outbound: tierNames(g.Tiers(q.From), access.Points[1])}
		}
	}
	if q.Ask {
		p.WhatIf = whatIf(ctx, g, q)
	}
	return p
}

func whatIf(ctx context.Context, g *access.Graph, q AccessQuery) *WhatIf {
	w := &WhatIf{Point: q.Point}
	pt, err := policy.ParsePoint(q.Point)
	if err != nil {
		w.Error = err.Error()
		return w
	}
	if q.Method != "" && !validMethod(q.Method) {
		w.Error = "method " + q.Method + " is not an HTTP method"
		return w
	}
	if q.Path != "" && !strings.HasPrefix(q.Path, "/") {
		w.Error = "the path must start with /"
		return w
	}
	d, err := g.Decide(ctx, q.From, q.To, pt, q.Method, q.Path)
	if err != nil {
		w.Error = err.Error()
		return w
	}
	w.Decision = d
	owner := q.To
	if pt.Direction == "outbound" {
		owner = q.From
	}
	w.Policies = tierNames(g.Tiers(owner), pt)
	return w
}

func validMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

// tierNames are the policies of an identity's tiers, as "tier namespace/name", each
// with its Rego file for the point or the word that it has none (the tier then leaves
// the point to the others).
func tierNames(t policy.Tiers, pt policy.Point) []string {
	var out []string
	name := func(tier string, ap *agentv1.AuthorizationPolicy) string {
		file := pt.String() + ".rego"
		for _, f := range ap.Spec.Policies {
			if f.Path == file {
				return tier + " " + ap.Namespace + "/" + ap.Name + ": " + file
			}
		}
		return tier + " " + ap.Namespace + "/" + ap.Name + " (no " + file + ")"
	}
	for _, p := range t.Global {
		out = append(out, name("global", p))
	}
	for _, p := range t.Namespace {
		out = append(out, name("namespace", p))
	}
	if t.Client != nil {
		out = append(out, name("client", t.Client))
	}
	return out
}

func grid(n int) [][]int {
	g := make([][]int, n)
	for i := range g {
		g[i] = make([]int, n)
	}
	return g
}
