package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/preview/diff"
	"github.com/trustsync/trustsync/security/policy"
)

// Revision names one side of the comparison.
type Revision struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
}

func (r Revision) short() string {
	c := r.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if r.Ref == "" || r.Ref == r.Commit {
		return "`" + c + "`"
	}
	return fmt.Sprintf("`%s` (%s)", r.Ref, c)
}

// Gate is a rule that fails the preview's commit status.
type Gate string

const (
	// GateCrossNamespace fails when a caller may now call a workload of another namespace.
	GateCrossNamespace Gate = "cross-namespace"
	// GateAnyGrant fails when any caller may now call a workload it could not before.
	GateAnyGrant Gate = "any-grant"
	// GateNone never fails on access; only failing tests and render errors do.
	GateNone Gate = "none"
)

// ParseGate reads a --fail-on value.
func ParseGate(s string) (Gate, error) {
	switch g := Gate(s); g {
	case GateCrossNamespace, GateAnyGrant, GateNone:
		return g, nil
	}
	return "", fmt.Errorf("%q is not a gate (cross-namespace, any-grant, none)", s)
}

// Report is the preview of one change: what it does to access, to objects, and whether
// the head's policy tests pass.
type Report struct {
	// Path rendered in both revisions.
	Path string   `json:"path"`
	Base Revision `json:"base"`
	Head Revision `json:"head"`
	// BaseErrors are the problems that keep the base from rendering; it is then compared
	// as an empty revision.
	BaseErrors []string `json:"baseErrors,omitempty"`
	// HeadErrors are the problems that keep the head from rendering; with them, Access
	// and Objects are empty.
	HeadErrors []string `json:"headErrors,omitempty"`
	// Access compares who may call whom.
	Access *access.Result `json:"-"`
	// Objects compares the rendered objects.
	Objects diff.Result `json:"-"`
	// Tests are the head's Rego tests; TestErrors the test files that did not compile.
	Tests      []policy.TestResult `json:"tests,omitempty"`
	TestErrors []string            `json:"testErrors,omitempty"`
	// Gate decides which access changes fail the preview.
	Gate Gate `json:"gate"`
}

// Failed is why the preview's commit status is a failure; empty when it passes.
func (r *Report) Failed() string {
	switch {
	case len(r.HeadErrors) > 0:
		return fmt.Sprintf("the head does not render: %s", r.HeadErrors[0])
	case len(r.TestErrors) > 0:
		return "a Rego test does not compile: " + r.TestErrors[0]
	}
	if n := r.failedTests(); n > 0 {
		return plural(n, "Rego test") + " failed"
	}
	if g := r.tripped(); len(g) > 0 {
		what := "new cross-namespace access"
		if r.Gate == GateAnyGrant {
			what = "new access"
		}
		return fmt.Sprintf("%s: %s", what, g[0].Sentence())
	}
	return ""
}

// Summary is the one line for a commit status or a terminal.
func (r *Report) Summary() string {
	if len(r.HeadErrors) > 0 {
		return fmt.Sprintf("does not render: %d problems", len(r.HeadErrors))
	}
	parts := []string{plural(len(r.accessChanges()), "access change")}
	if n := r.newCrossNamespace(); n > 0 {
		parts[0] += fmt.Sprintf(" (%d new cross-namespace)", n)
	}
	parts = append(parts, plural(len(r.Objects.Changes), "object")+" changed")
	passed := len(r.Tests) - r.failedTests()
	parts = append(parts, fmt.Sprintf("%d/%d Rego tests passed", passed, len(r.Tests)))
	return strings.Join(parts, ", ")
}

// JSON writes the report for machines: the summary, the verdict, the access changes, the
// object changes and the tests.
func (r *Report) JSON(w io.Writer) error {
	type change struct {
		Caller         string   `json:"caller"`
		Callee         string   `json:"callee"`
		CallerID       string   `json:"callerID"`
		CalleeID       string   `json:"calleeID"`
		Before         string   `json:"before"`
		After          string   `json:"after"`
		Sentence       string   `json:"sentence"`
		CrossNamespace bool     `json:"crossNamespace"`
		Causes         []string `json:"causes"`
	}
	out := struct {
		*Report
		Summary string        `json:"summary"`
		Failed  string        `json:"failed,omitempty"`
		Changes []change      `json:"accessChanges"`
		Objects []diff.Change `json:"objectChanges"`
		Pairs   int           `json:"pairs"`
	}{Report: r, Summary: r.Summary(), Failed: r.Failed(), Changes: []change{}, Objects: r.Objects.Changes}
	if r.Access != nil {
		out.Pairs = r.Access.Pairs
	}
	for _, c := range r.accessChanges() {
		out.Changes = append(out.Changes, change{Caller: c.Caller.Key(), Callee: c.Callee.Key(), CallerID: c.Caller.ID, CalleeID: c.Callee.ID,
			Before: verdictWord(c.Before), After: verdictWord(c.After), Sentence: c.Sentence(), CrossNamespace: c.CrossNamespace, Causes: c.Causes})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (r *Report) accessChanges() []access.Change {
	if r.Access == nil {
		return nil
	}
	return r.Access.Changes
}

func (r *Report) failedTests() int {
	n := 0
	for _, t := range r.Tests {
		if !t.Pass {
			n++
		}
	}
	return n
}

func (r *Report) newCrossNamespace() int {
	n := 0
	for _, c := range r.accessChanges() {
		if c.Granted() && c.CrossNamespace {
			n++
		}
	}
	return n
}

// tripped are the access changes the gate fails on.
func (r *Report) tripped() []access.Change {
	var out []access.Change
	for _, c := range r.accessChanges() {
		if !c.Granted() {
			continue
		}
		if r.Gate == GateAnyGrant || (r.Gate == GateCrossNamespace && c.CrossNamespace) {
			out = append(out, c)
		}
	}
	return out
}

func verdictWord(v access.Verdict) string {
	switch {
	case !v.Exists:
		return "absent"
	case v.Allow:
		return "allow"
	}
	return "deny"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
