package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	// Namespace and Name of the AuthorizationPolicy holding the test.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Field is the policy file's field, e.g. spec.policies[2].content.
	Field string `json:"field"`
	// Path of the test file and Line of the test rule.
	Path string `json:"path"`
	Line int    `json:"line"`
	// Test is the rule name, e.g. test_research_agent_may_call.
	Test string `json:"test"`
	Pass bool   `json:"pass"`
	// Error is an evaluation error, when the test could not run to an outcome.
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Err is the failure as an *Error naming the policy, field, file and line; nil when the
// test passed.
func (r TestResult) Err() *Error {
	if r.Pass {
		return nil
	}
	msg := "test " + r.Test + " failed"
	if r.Error != "" {
		msg += ": " + r.Error
	}
	return &Error{Namespace: r.Namespace, Name: r.Name, Field: r.Field, Path: r.Path, Line: r.Line, Err: errors.New(msg)}
}

// Test runs the Rego tests (*_test.rego files) of every policy in policies, each with
// the bundle of the identity its tier decides for: a client policy's tests with the
// global, namespace and client tiers of its identity; a namespace policy's with the
// global and namespace tiers (an identity without a client policy); a global policy's
// with the global tier. Tests thus exercise the real combined decision, e.g.
// data.authbridge.inbound.request.allow. A test file that does not compile is reported
// as an *Error; policies without tests give no results.
//
// Each test is bounded by l.RegoDeadline() and l.RegoBytes(), all of them together by
// l.RegoTestsDeadline() (the Platform defaults where l leaves them unset): a test
// stopped at a bound fails with the limit in its error; tests left when the total runs
// out are reported as one *Error naming the policy whose tests it stopped.
func Test(ctx context.Context, s *Set, policies []*agentv1.AuthorizationPolicy, l gitopsv1.Limits) ([]TestResult, []*Error) {
	var (
		results []TestResult
		errs    []*Error
	)
	ctx, cancel := context.WithTimeoutCause(ctx, l.RegoTestsDeadline(), errTestsDeadline)
	defer cancel()
	for _, p := range policies {
		var tests []File
		field := map[string]int{}
		for i, rp := range p.Spec.Policies {
			if IsTestFile(rp.Path) {
				name := fileName(p, i)
				tests = append(tests, File{Path: name, Content: rp.Content, Policy: p.Namespace + "/" + p.Name, Source: rp.Path})
				field[name] = i
			}
		}
		if len(tests) == 0 {
			continue
		}
		if ctx.Err() != nil {
			why := context.Cause(ctx)
			if why == errTestsDeadline {
				why = testsTimeoutError(&l)
			}
			errs = append(errs, &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: fmt.Errorf("its tests (and any after them) did not run: %w", why)})
			break
		}
		res, err := runTests(ctx, s.TiersOf(p), tests, &l)
		if err != nil {
			e := &Error{Namespace: p.Namespace, Name: p.Name, Field: "spec.policies", Err: err}
			var be *BuildError
			if errors.As(err, &be) && be.Policy == p.Namespace+"/"+p.Name {
				e.Err, e.Path, e.Line = be.Err, be.Path, be.Line
				if i := slices.IndexFunc(p.Spec.Policies, func(rp agentv1.RegoPolicy) bool { return rp.Path == be.Path }); i >= 0 {
					e.Field = fmt.Sprintf("spec.policies[%d].content", i)
				}
			}
			errs = append(errs, e)
			continue
		}
		for _, r := range res {
			i, ok := field[r.Location.File]
			if !ok {
				continue // a test_ rule of a policy file, not of this policy's tests
			}
			tr := TestResult{
				Namespace: p.Namespace, Name: p.Name,
				Field: fmt.Sprintf("spec.policies[%d].content", i), Path: p.Spec.Policies[i].Path,
				Line: r.Location.Row, Test: r.Name, Pass: r.Pass(), Duration: r.Duration,
			}
			if r.Error != nil {
				tr.Error = r.Error.Error()
			}
			results = append(results, tr)
		}
	}
	slices.SortFunc(results, func(a, b TestResult) int {
		return strings.Compare(fmt.Sprintf("%s/%s/%s/%06d", a.Namespace, a.Name, a.Path, a.Line), fmt.Sprintf("%s/%s/%s/%06d", b.Namespace, b.Name, b.Path, b.Line))
	})
	return results, errs
}

// errTestsDeadline is the cause of the context of Test at limits.regoTestsTimeout, told
// apart from the caller's own deadline.
var errTestsDeadline = errors.New("the Rego tests' deadline")

func testsTimeoutError(l *gitopsv1.Limits) *gitopsv1.LimitError {
	return &gitopsv1.LimitError{Limit: "limits.regoTestsTimeout", Max: l.RegoTestsDeadline().String(), What: "the Rego tests of the revision did not finish in time"}
}

// runTests runs the tests of one bundle one at a time, so the one a bound stops is the
// one that ran past it; a stopped test's error names the bound.
func runTests(ctx context.Context, t Tiers, tests []File, l *gitopsv1.Limits) ([]*tester.Result, error) {
	a, err := assemble(t, tests)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := tester.NewRunner().SetCompiler(newCompiler()).SetModules(a.modules).
		SetTimeout(l.RegoDeadline()).SetParallel(1).RunTests(runCtx, nil)
	if err != nil {
		var list ast.Errors
		if errors.As(err, &list) && len(list) > 0 {
			return nil, a.compileError(list)
		}
		return nil, err
	}
	// The runner follows runCtx and its own per-test deadline; the watch adds the
	// memory bound, stopping the run through runCtx.
	w := startWatch(nil, time.Time{}, l.RegoBytes(), stop)
	defer w.done()
	stoppedAll := false
	var out []*tester.Result
	for r := range ch {
		if r.Error != nil && topdown.IsCancel(r.Error) {
			switch {
			case w.limitError(l) != nil:
				r.Error = w.limitError(l)
			case context.Cause(ctx) == errTestsDeadline:
				// The runner goes on to the rest, each cancelled at once: the first
				// says why, Test reports the policies left.
				if stoppedAll {
					continue
				}
				stoppedAll, r.Error = true, testsTimeoutError(l)
			case ctx.Err() == nil:
				r.Error = timeoutError(l)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
