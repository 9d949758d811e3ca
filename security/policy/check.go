package policy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"k8s.io/apimachinery/pkg/api/resource"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/identity"
)

// Error is a problem with one AuthorizationPolicy. It prints as the rest of the
// repository's errors do — "[file: ]AuthorizationPolicy ns/name: field: path:line: what" —
// so callers pass it on as it is; Detail leaves the object out, for messages already
// about that policy (its own condition, its own admission).
type Error struct {
	// File the policy came from, when the caller knows it (the renderer does).
	File            string
	Namespace, Name string
	// Field is the field path, e.g. spec.policies[1].content.
	Field string
	// Path is the policy file (spec.policies[i].path), when the error is about one.
	Path string
	// Line in the Rego source, 0 when unknown.
	Line int
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Name != "" {
		fmt.Fprintf(&b, "%s %s/%s: ", agentv1.AuthorizationPolicyKind, e.Namespace, e.Name)
	}
	b.WriteString(e.Detail())
	return b.String()
}

// Unlocated is the error without file, object and field — "path:line: what" — for a
// caller that names those itself (the renderer's manifest.Error, whose object is the
// policy as written in Git).
func (e *Error) Unlocated() error { return unlocated{e} }

type unlocated struct{ e *Error }

func (u unlocated) Error() string {
	return (&Error{Path: u.e.Path, Line: u.e.Line, Err: u.e.Err}).Detail()
}
func (u unlocated) Unwrap() error { return u.e }

// Detail is the error without the file and object: "field: path:line: what".
func (e *Error) Detail() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	if e.Path != "" {
		fmt.Fprintf(&b, "%s", e.Path)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// CheckOptions configure Check.
type CheckOptions struct {
	// PlatformNamespace is the only namespace global policies are honoured in.
	PlatformNamespace string
	// PartialGlobalTier says some global policy of the revision could not be read, so
	// the tier cannot be checked for completeness.
	PartialGlobalTier bool
	// Limits bound each policy's size and rules; the Platform defaults where unset.
	Limits gitopsv1.Limits
	// TrustDomain of the platform, which a client policy's clientID in SPIFFE form must
	// name; not checked when empty.
	TrustDomain string
	// Memo, when set, remembers the policies that passed, so a revision checks anew
	// only the policies it changed (see CheckMemo).
	Memo *CheckMemo
}

// Check verifies a set of AuthorizationPolicies as a revision would deploy them: global
// policies only in the platform namespace, each policy within the size and rule bounds
// (its size checked before anything is parsed), each file parses as Rego v1, calls no
// built-in Capabilities leave out (tests included) and declares a package of its tier
// (the conventional decision-point files exactly that point's package), a client
// policy's clientID names no other agent, every policy compiles alone and together
// with the rest of its tier, and a global tier defines every decision point. It returns
// every problem found.
func Check(policies []*agentv1.AuthorizationPolicy, o CheckOptions) []*Error {
	var errs []*Error
	parsed := make([][]*ast.Module, len(policies))
	for i, p := range policies {
		var key [sha256.Size]byte
		remember := false
		if o.Memo != nil {
			if key, remember = o.Memo.key(p, &o); remember {
				if mods, ok := o.Memo.passed(key); ok {
					parsed[i] = mods
					continue
				}
			}
		}
		mods, perrs := parse(p, &o)
		errs = append(errs, perrs...)
		if len(perrs) == 0 {
			parsed[i] = mods
			cerrs := compile(p, mods)
			errs = append(errs, cerrs...)
			if remember && len(cerrs) == 0 {
				if p.EffectiveScope() == agentv1.ScopeClient {
					mods = nil // the checks across policies read no client policy's modules
				}
				o.Memo.put(key, mods)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if !o.PartialGlobalTier {
		errs = append(errs, checkGlobalCoverage(policies, parsed)...)
	}

	// Policies of one tier end up in the same bundle; they must compile together.
	groups := map[string][]int{}
	for i, p := range policies {
		switch p.EffectiveScope() {
		case agentv1.ScopeGlobal:
			groups["global"] = append(groups["global"], i)
		case agentv1.ScopeNamespace:
			groups["ns/"+p.Namespace] = append(groups["ns/"+p.Namespace], i)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		idx := groups[k]
		if len(idx) < 2 {
			continue
		}
		var mods []*ast.Module
		for _, i := range idx {
			mods = append(mods, parsed[i]...)
		}
		c := newCompiler()
		if c.Compile(moduleMap(mods)); c.Failed() {
			for _, e := range c.Errors {
				owner := policies[idx[0]]
				if e.Location != nil {
					owner = ownerOf(policies, idx, e.Location.File)
				}
				errs = append(errs, astError(owner, fmt.Errorf("conflicts with another %s-scope policy: %s", owner.EffectiveScope(), undefinedRefused(e)), e))
			}
		}
	}
	return errs
}

// checkGlobalCoverage: the global tier makes every decision, so when a repository brings
// its own it must define all four decision points — a missing one would deny every call
// there, silently.
func checkGlobalCoverage(policies []*agentv1.AuthorizationPolicy, parsed [][]*ast.Module) []*Error {
	defined := map[string]bool{}
	var first *agentv1.AuthorizationPolicy
	for i, p := range policies {
		if p.EffectiveScope() != agentv1.ScopeGlobal {
			continue
		}
		if first == nil {
			first = p
		}
		for _, m := range parsed[i] {
			defined[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
		}
	}
	if first == nil {
		return nil
	}
	var errs []*Error
	for _, pt := range Points {
		if pkg := Package(agentv1.ScopeGlobal, pt); !defined[pkg] {
			errs = append(errs, &Error{Namespace: first.Namespace, Name: first.Name, Field: "spec.policies",
				Err: fmt.Errorf("the global tier defines no package %s, so the decision at %s is undefined (which trustsync denies, and the reference AuthBridge plugin lets through); add %s or leave the global tier to trustsync's default", pkg, pt, pt.File())})
		}
	}
	return errs
}

// fileName names a module in OPA locations: <namespace>/<name>/<index>/<path>.
func fileName(p *agentv1.AuthorizationPolicy, i int) string {
	return fmt.Sprintf("%s/%s/%d/%s", p.Namespace, p.Name, i, p.Spec.Policies[i].Path)
}

func parse(p *agentv1.AuthorizationPolicy, o *CheckOptions) ([]*ast.Module, []*Error) {
	scope := p.EffectiveScope()
	if !slices.Contains(agentv1.PolicyScopes, scope) {
		return nil, []*Error{{Namespace: p.Namespace, Name: p.Name, Field: "spec.scope",
			Err: fmt.Errorf("%q is not one of global, namespace, client", scope)}}
	}
	if scope == agentv1.ScopeGlobal && p.Namespace != o.PlatformNamespace {
		return nil, []*Error{{Namespace: p.Namespace, Name: p.Name, Field: "spec.scope",
			Err: fmt.Errorf("global policies are honoured only in the platform namespace %q; move it there or use scope namespace", o.PlatformNamespace)}}
	}
	if len(p.Spec.Policies) == 0 {
		return nil, []*Error{{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: errors.New("at least one policy is required")}}
	}
	// Parsing and compiling cost grows with the source: bound it before either.
	if err := checkSize(p, &o.Limits); err != nil {
		return nil, []*Error{err}
	}
	var errs []*Error
	if scope == agentv1.ScopeClient {
		if err := checkClientID(p, o.TrustDomain); err != nil {
			errs = append(errs, err)
		}
	}
	var mods []*ast.Module
	rules := ruleCount{}
	seen := map[string]bool{}
	for i, rp := range p.Spec.Policies {
		field := fmt.Sprintf("spec.policies[%d]", i)
		if seen[rp.Path] {
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".path", Path: rp.Path, Err: errors.New("duplicate path")})
			continue
		}
		seen[rp.Path] = true
		if !validPath(rp.Path) {
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".path", Path: rp.Path,
				Err: errors.New(`must match ^[a-z0-9][a-z0-9_.-]*(/[a-z0-9_-][a-z0-9_.-]*)*\.rego$: no segment empty or starting with "."`)})
			continue
		}
		if strings.TrimSpace(rp.Content) == "" {
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".content", Path: rp.Path, Err: errors.New("empty Rego source")})
			continue
		}
		mod, err := ast.ParseModuleWithOpts(fileName(p, i), rp.Content, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, astErrors(p, field+".content", rp.Path, err)...)
			continue
		}
		rules.add(rp.Path, mod)
		if line, err := checkShape(mod); err != nil {
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".content", Path: rp.Path, Line: line, Err: err})
			continue
		}
		if calls := refusedCalls(mod); len(calls) > 0 {
			for _, c := range calls {
				errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".content", Path: rp.Path, Line: c.line, Err: c})
			}
			continue
		}
		if IsTestFile(rp.Path) {
			// Tests never reach a bundle, so they may declare any package; they are
			// compiled with their tier's bundle when they run (see Test).
			continue
		}
		pkg := strings.TrimPrefix(mod.Package.Path.String(), "data.")
		line := 0
		if mod.Package.Location != nil {
			line = mod.Package.Location.Row
		}
		if !allowedPackage(scope, pkg) {
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".content", Path: rp.Path, Line: line,
				Err: fmt.Errorf("package %s is outside the %s tier (%s)", pkg, scope, tierHint(scope))})
			continue
		}
		if pt, err := ParsePoint(rp.Path); err == nil {
			if want := Package(scope, pt); pkg != want {
				errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: field + ".content", Path: rp.Path, Line: line,
					Err: fmt.Errorf("package %s does not match its path: %s must declare package %s", pkg, rp.Path, want)})
				continue
			}
		}
		mods = append(mods, mod)
	}
	if err := rules.check(p, &o.Limits); err != nil {
		errs = append(errs, err)
	}
	return mods, errs
}

// checkSize bounds the Rego of one policy, all its files (paths and contents) together,
// and their number: each file holds rules, or is an error reported on its own.
func checkSize(p *agentv1.AuthorizationPolicy, l *gitopsv1.Limits) *Error {
	if n := len(p.Spec.Policies); n > l.MaxPolicyRules() {
		return &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: &gitopsv1.LimitError{
			Limit: "limits.policyRules", Max: fmt.Sprint(l.MaxPolicyRules()),
			What: fmt.Sprintf("the policy has %d files, more than it may have rules", n),
		}}
	}
	total, largest := 0, 0
	for i, rp := range p.Spec.Policies {
		total += len(rp.Path) + len(rp.Content)
		if len(rp.Content) > len(p.Spec.Policies[largest].Content) {
			largest = i
		}
	}
	if int64(total) <= l.PolicyBytes() {
		return nil
	}
	big := p.Spec.Policies[largest]
	return &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: &gitopsv1.LimitError{
		Limit: "limits.policySize", Max: quantity(l.PolicyBytes()),
		What: fmt.Sprintf("the policy's %d files hold %d bytes (paths and Rego; the largest, spec.policies[%d] %s, %s)", len(p.Spec.Policies), total, largest, big.Path, quantity(int64(len(big.Content)))),
	}}
}

// ruleCount counts the rules of a policy's files (else branches included).
type ruleCount struct {
	total, most int
	mostPath    string
}

func (r *ruleCount) add(path string, mod *ast.Module) {
	n := 0
	for _, rule := range mod.Rules {
		for ; rule != nil; rule = rule.Else {
			n++
		}
	}
	r.total += n
	if n > r.most {
		r.most, r.mostPath = n, path
	}
}

func (r *ruleCount) check(p *agentv1.AuthorizationPolicy, l *gitopsv1.Limits) *Error {
	if r.total <= l.MaxPolicyRules() {
		return nil
	}
	field := "spec.policies"
	if i := slices.IndexFunc(p.Spec.Policies, func(rp agentv1.RegoPolicy) bool { return rp.Path == r.mostPath }); i >= 0 {
		field = fmt.Sprintf("spec.policies[%d].content", i)
	}
	return &Error{Namespace: p.Namespace, Name: p.Name, Field: field, Path: r.mostPath, Err: &gitopsv1.LimitError{
		Limit: "limits.policyRules", Max: fmt.Sprint(l.MaxPolicyRules()),
		What: fmt.Sprintf("the policy has %d rules (%d in this file)", r.total, r.most),
	}}
}

// OPA's compiler is quadratic in the nesting of terms and in the length of a rule
// body (4 minutes and 17 GB for a 256 KiB chain "1 + 1 + …"), so the size bound alone
// does not bound a compilation. Real policies stay far below these.
const (
	// MaxTermDepth bounds the nesting of terms: calls, operators, collections.
	MaxTermDepth = 50
	// MaxBodyExpressions bounds the expressions of one rule or comprehension body.
	MaxBodyExpressions = 300
)

// checkShape holds a module to MaxTermDepth and MaxBodyExpressions, giving the line of
// the first term or body past them.
func checkShape(mod *ast.Module) (int, error) {
	var (
		depth, line int
		err         error
	)
	at := func(loc *ast.Location) int {
		if loc == nil {
			return 0
		}
		return loc.Row
	}
	ast.NewBeforeAfterVisitor(func(x any) bool {
		if err != nil {
			return true
		}
		switch x := x.(type) {
		case *ast.Term:
			if depth++; depth > MaxTermDepth {
				line, err = at(x.Location), fmt.Errorf("terms nest more than %d deep (calls, operators and collections count); compiling deeper nesting costs quadratic time", MaxTermDepth)
			}
		case ast.Body:
			if len(x) > MaxBodyExpressions {
				line, err = at(x[0].Location), fmt.Errorf("a body of %d expressions, over the bound of %d; compiling longer bodies costs quadratic time, split the rule", len(x), MaxBodyExpressions)
			}
		}
		return err != nil
	}, func(x any) {
		if _, ok := x.(*ast.Term); ok {
			depth--
		}
	}).Walk(mod)
	return line, err
}

func quantity(n int64) string { return resource.NewQuantity(n, resource.BinarySI).String() }

// clientIDPattern is the CRD's pattern for spec.clientID.
var clientIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

// checkClientID: spec.clientID is informational (the client tier is the policy named
// after the ServiceAccount, in its namespace), so one that names another agent —
// another namespace's, another ServiceAccount, another trust domain — says the policy
// binds what it does not.
func checkClientID(p *agentv1.AuthorizationPolicy, trustDomain string) *Error {
	id := p.Spec.ClientID
	if id == "" || clientIDPattern.MatchString(id) && len(id) <= 253 {
		return nil
	}
	bad := func(format string, args ...any) *Error {
		return &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.clientID",
			Err: fmt.Errorf(format+"; a client policy binds only the ServiceAccount named by its metadata.name in its own namespace (%s/%s)", append(args, p.Namespace, p.Name)...)}
	}
	var ns, name string
	if w, err := identity.Parse(id); err == nil && (strings.HasPrefix(id, "spiffe://") || strings.Count(id, "/") == 4) {
		if trustDomain != "" && w.TrustDomain != trustDomain {
			return bad("%q is of trust domain %s, not the platform's (%s)", id, w.TrustDomain, trustDomain)
		}
		ns, name = w.Namespace, w.ServiceAccount
	} else if a, b, ok := strings.Cut(id, "/"); ok && !strings.Contains(b, "/") {
		ns, name = a, b // the Keycloak client ID of an agent without SPIRE: <namespace>/<workload>
	}
	switch {
	case ns != "" && ns != p.Namespace:
		return bad("%q names an agent of namespace %s", id, ns)
	case ns != "" && name != p.Name:
		return bad("%q names %s/%s", id, ns, name)
	}
	return bad("%q does not match %s (the API server refuses it); write %q or leave it out", id, clientIDPattern, p.Name)
}

func tierHint(scope agentv1.PolicyScope) string {
	return "packages " + Package(scope, Point{"<direction>", "<phase>"})
}

func validPath(p string) bool {
	if !strings.HasSuffix(p, ".rego") || p == "" {
		return false
	}
	c := p[0]
	if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/_.-", r)) {
			return false
		}
	}
	// No segment empty or starting with ".", so none is "." or "..": OPA cleans bundle
	// paths, so "x/../../global/…" would land on (and replace) another tier's file.
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg[0] == '.' {
			return false
		}
	}
	return true
}

func compile(p *agentv1.AuthorizationPolicy, mods []*ast.Module) []*Error {
	c := newCompiler()
	if c.Compile(moduleMap(mods)); !c.Failed() {
		return nil
	}
	var errs []*Error
	for _, e := range c.Errors {
		errs = append(errs, astError(p, errors.New(undefinedRefused(e)), e))
	}
	return errs
}

func moduleMap(mods []*ast.Module) map[string]*ast.Module {
	m := make(map[string]*ast.Module, len(mods))
	for _, mod := range mods {
		m[mod.Package.Location.File] = mod
	}
	return m
}

// astErrors converts a parse error into Errors with lines.
func astErrors(p *agentv1.AuthorizationPolicy, field, path string, err error) []*Error {
	var list ast.Errors
	if !errors.As(err, &list) || len(list) == 0 {
		return []*Error{{Namespace: p.Namespace, Name: p.Name, Field: field, Path: path, Err: err}}
	}
	var out []*Error
	for _, e := range list {
		line := 0
		if e.Location != nil {
			line = e.Location.Row
		}
		out = append(out, &Error{Namespace: p.Namespace, Name: p.Name, Field: field, Path: path, Line: line, Err: fmt.Errorf("%s: %s", e.Code, e.Message)})
	}
	return out
}

// astError converts a compile error, locating the policy file from the module name.
func astError(p *agentv1.AuthorizationPolicy, err error, e *ast.Error) *Error {
	out := &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: fmt.Errorf("%s: %w", e.Code, err)}
	if e.Location == nil {
		return out
	}
	out.Line = e.Location.Row
	for i := range p.Spec.Policies {
		if fileName(p, i) == e.Location.File {
			out.Field = fmt.Sprintf("spec.policies[%d].content", i)
			out.Path = p.Spec.Policies[i].Path
		}
	}
	return out
}

func ownerOf(policies []*agentv1.AuthorizationPolicy, idx []int, file string) *agentv1.AuthorizationPolicy {
	for _, i := range idx {
		p := policies[i]
		for j := range p.Spec.Policies {
			if fileName(p, j) == file {
				return p
			}
		}
	}
	return policies[idx[0]]
}
