package renderers

import (
	"context"
	"errors"
	"fmt"

	"io/fs"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/kustomize"
	"github.com/trustsync/trustsync/renderers/schema"
	"github.com/trustsync/trustsync/renderers/secureprofile"
	"github.com/trustsync/trustsync/security/policy"
)

// Policy summarises one AuthorizationPolicy of the revision.
type Policy struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Scope     string   `json:"scope"`
	Files     []string `json:"files"`
	// Generated is true for the default global policy trustsync adds.
	Generated bool `json:"generated,omitempty"`
}

// Result is a rendered revision.
type Result struct {
	// Objects in apply order.
	Objects []*manifest.Object
	// Agents of the revision.
	Agents []secureprofile.Agent
	// Policies of the revision.
	Policies []Policy
	// PolicyTests are the outcomes of the revision's Rego tests (all passed, or the
	// render failed).
	PolicyTests []policy.TestResult

	typedPolicies []*agentv1.AuthorizationPolicy
}

// AuthorizationPolicies are the revision's policies, decoded (the generated default
// global policy included). They must not be modified.
func (r *Result) AuthorizationPolicies() []*agentv1.AuthorizationPolicy { return r.typedPolicies }

// Options configure a render.
type Options struct {
	// Platform configuration; the defaults when nil.
	Platform *gitopsv1.Platform
	// Namespace, when set, is given to every namespaced object (a Sync's targetNamespace).
	Namespace string
	// SkipPolicyTests leaves the Rego tests out of the render, for a caller that runs and
	// reports them itself (trustsync policy test); a revision is never applied without.
	SkipPolicyTests bool
	// Cache, when set, keeps what the next renders can reuse (see Cache).
	Cache *Cache
	// Progress, when set, is told each phase as it starts (a terminal shows it).
	Progress func(phase string)
}

// phase tells o's Progress that a phase starts.
func (o *Options) phase(name string) {
	if o.Progress != nil {
		o.Progress(name)
	}
}

// Cache keeps what one render leaves the next: kustomize's runs, by what they read
// (kustomize.Cache), the objects that passed the schema check, by content
// (schema.Memo), the agents' sidecar configurations, by their inputs
// (secureprofile.Memo), and the AuthorizationPolicies that passed their checks
// (policy.CheckMemo). A Sync keeps one across its revisions, so a revision renders anew
// only the kustomizations it changed and checks only the objects that differ; a preview
// shares its base's with its head. The zero Cache is ready; it is safe for concurrent
// renders.
type Cache struct {
	runs       kustomize.Cache
	schema     schema.Memo
	policies   policy.CheckMemo
	expansions secureprofile.Memo
}

func (c *Cache) kustomizeRuns() *kustomize.Cache {
	if c == nil {
		return nil
	}
	return &c.runs
}

func (c *Cache) schemaMemo() *schema.Memo {
	if c == nil {
		return nil
	}
	return &c.schema
}

func (c *Cache) expansionMemo() *secureprofile.Memo {
	if c == nil {
		return nil
	}
	return &c.expansions
}

func (c *Cache) policyMemo() *policy.CheckMemo {
	if c == nil {
		return nil
	}
	return &c.policies
}

// Render builds dir of the tree fsys into the revision's manifests.
func Render(fsys fs.FS, dir string, opts Options) (*Result, error) {
	p := opts.Platform
	if p == nil {
		p = gitopsv1.DefaultPlatform()
	}
	started := time.Now()
	opts.phase("building " + dir + " with kustomize")
	objs, err := kustomize.Build(fsys, dir, kustomize.Options{Namespace: opts.Namespace, Limits: buildLimits(&p.Limits, started), Cache: opts.Cache.kustomizeRuns()})
	if err != nil {
		return nil, err
	}
	opts.phase(fmt.Sprintf("checking %d objects against their schemas", len(objs)))
	schemaErr := schema.CheckWith(objs, opts.Cache.schemaMemo())
	opts.phase("expanding the agents' secure profile")
	expanded, expandErr := secureprofile.ExpandWith(objs, p, opts.Cache.expansionMemo())
	// Policies are checked even when the agents failed, so one run reports everything;
	// with a good expansion, the generated default policy is checked too.
	checked := objs
	var generatedErr error
	if expandErr == nil {
		checked = expanded.Objects
		generatedErr = checkGenerated(objs, expanded.Objects, opts.Cache.schemaMemo())
	}
	// The Rego tests run only on a revision that is otherwise good: they decide calls
	// through all tiers, and a failed expansion lacks the default global one, so their
	// failures would be caused by the other errors, not by the policies.
	runTests := !opts.SkipPolicyTests && schemaErr == nil && expandErr == nil && generatedErr == nil
	opts.phase(map[bool]string{true: "compiling the policies and running their Rego tests", false: "compiling the policies"}[runTests])
	checkedPolicies, policyErr := checkPolicies(checked, p, runTests, opts.Cache.policyMemo())
	schemaErr = withoutCovered(schemaErr, expandErr, policyErr)
	if err := errors.Join(schemaErr, expandErr, generatedErr, policyErr); err != nil {
		return nil, sorted(err)
	}
	// The build and the Rego bound themselves as they go; this catches the rest.
	if took := time.Since(started); took > p.Limits.RenderDeadline() {
		return nil, &gitopsv1.LimitError{Limit: "limits.renderTimeout", Max: p.Limits.RenderDeadline().String(), What: fmt.Sprintf("the render took %s", took.Round(time.Millisecond))}
	}
	return &Result{Objects: expanded.Objects, Agents: expanded.Agents, Policies: checkedPolicies.summaries, PolicyTests: checkedPolicies.tests, typedPolicies: checkedPolicies.typed}, nil
}

// buildLimits are the Platform's limits for the kustomize build of a render that started
// at started.
func buildLimits(l *gitopsv1.Limits, started time.Time) kustomize.Limits {
	return kustomize.Limits{
		FileBytes: l.FileBytes(), RevisionBytes: l.RevisionBytes(), Files: l.MaxFiles(),
		Objects: l.MaxObjects(), ObjectsPerBuild: l.MaxObjectsPerBuild(),
		YAMLDepth: l.MaxYAMLDepth(), YAMLNodes: l.MaxYAMLNodes(), SymlinkHops: l.MaxSymlinkHops(),
		Deadline: started.Add(l.RenderDeadline()), Timeout: l.RenderDeadline(),
	}
}

// checkPolicies compiles every AuthorizationPolicy of the revision and, when they
// compile and runTests is set, runs their Rego tests: a failing test fails the revision
// like a compile error, naming the test file and line.
func checkPolicies(objs []*manifest.Object, p *gitopsv1.Platform, runTests bool, memo *policy.CheckMemo) (*checkedPolicies, error) {
	platformNamespace := p.Namespace
	var (
		typed   []*agentv1.AuthorizationPolicy
		sources = map[string]*manifest.Object{}
		errs    []error
		out     []Policy
	)
	partialGlobal := false
	for _, o := range objs {
		// Both families' policies are one set: a Rossoctl policy decides as a Kagenti one.
		if _, ok := agentv1.FamilyOf(o.GroupVersionKind().Group); !ok || o.GetKind() != agentv1.AuthorizationPolicyKind {
			continue
		}
		ap := &agentv1.AuthorizationPolicy{}
		if err := manifest.Decode(o, ap); err != nil {
			errs = append(errs, err)
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			partialGlobal = partialGlobal || scope == string(agentv1.ScopeGlobal)
			continue
		}
		if ap.Namespace == "" {
			ap.Namespace = secureprofile.DefaultNamespace
		}
		if other := sources[ap.Namespace+"/"+ap.Name]; other != nil {
			// Two objects to the API server, one policy to the bundles: which one decides
			// would not be said.
			errs = append(errs, manifest.Errorf(o, "metadata.name", "AuthorizationPolicy %s/%s is also declared in %s (%s); one policy per namespace and name across the families", ap.Namespace, ap.Name, other.GetAPIVersion(), other.Source))
			continue
		}
		typed = append(typed, ap)
		sources[ap.Namespace+"/"+ap.Name] = o
		pol := Policy{Namespace: ap.Namespace, Name: ap.Name, Scope: string(ap.EffectiveScope()), Generated: o.Source == ""}
		for _, f := range ap.Spec.Policies {
			pol.Files = append(pol.Files, f.Path)
		}
		out = append(out, pol)
	}
	// Policies that decoded are still checked, so one bad object hides no other problem.
	for _, e := range policy.Check(typed, policy.CheckOptions{PlatformNamespace: platformNamespace, PartialGlobalTier: partialGlobal, Limits: p.Limits, TrustDomain: p.TrustDomain, Memo: memo}) {
		o := sources[e.Namespace+"/"+e.Name]
		errs = append(errs, &manifest.Error{File: o.Source, Object: o.Ref(), Field: e.Field, Err: e.Unlocated()})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var results []policy.TestResult
	if runTests {
		var terrs []*policy.Error
		results, terrs = policy.Test(context.Background(), policy.NewSet(platformNamespace, typed), typed, p.Limits)
		for _, r := range results {
			if e := r.Err(); e != nil {
				terrs = append(terrs, e)
			}
		}
		for _, e := range terrs {
			o := sources[e.Namespace+"/"+e.Name]
			errs = append(errs, &manifest.Error{File: o.Source, Object: o.Ref(), Field: e.Field, Err: e.Unlocated()})
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}
	slices.SortFunc(out, func(a, b Policy) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return &checkedPolicies{summaries: out, tests: results, typed: typed}, nil
}

// checkedPolicies are a revision's policies once they compiled and passed their tests.
type checkedPolicies struct {
	summaries []Policy
	tests     []policy.TestResult
	typed     []*agentv1.AuthorizationPolicy
}

// Summary counts objects by kind, for people.
func (r *Result) Summary() map[string]int {
	counts := map[string]int{}
	for _, o := range r.Objects {
		counts[o.GetKind()]++
	}
	return counts
}

// sorted orders the problems of a revision by file, object and field, so the same
// revision always reports them the same way.
func sorted(err error) error {
	errs := manifest.Errors(err)
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}
