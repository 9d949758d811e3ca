package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/renderers"
)

// Markdown writes the report for a pull request comment: the verdict and summary line,
// the access changes first, a graph of the changed edges, the access matrix for small
// repositories, then the object changes and the Rego tests.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## trustsync preview of `%s`\n\n", r.Path)
	verdict := "✅ passes"
	if f := r.Failed(); f != "" {
		verdict = "❌ fails: " + f
	}
	fmt.Fprintf(&b, "**%s** — %s\n\n", verdict, r.Summary())
	fmt.Fprintf(&b, "%s → %s\n\n", r.Base.short(), r.Head.short())
	if len(r.BaseErrors) > 0 {
		fmt.Fprintf(&b, "> The base does not render (%s), so the head is compared with an empty revision.\n\n", r.BaseErrors[0])
	}
	if len(r.HeadErrors) > 0 {
		b.WriteString("### The head does not render\n\nNothing of this revision would be applied; the cluster would keep the last good one.\n\n")
		for _, e := range r.HeadErrors {
			fmt.Fprintf(&b, "- `%s`\n", e)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	r.writeAccess(&b)
	r.writeObjects(&b)
	r.writeTests(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeAccess(b *strings.Builder) {
	b.WriteString("### Who may call whom\n\n")
	b.WriteString("A call is allowed when the callee's inbound policy and the caller's outbound policy both allow it; ")
	b.WriteString("trustsync evaluates each pair of agents and tools with a representative A2A request (`POST /`, `message/send`) at `inbound/request` and `outbound/request`.\n\n")
	changes := r.accessChanges()
	if len(changes) == 0 {
		fmt.Fprintf(b, "No change: the same %d caller → callee pairs are allowed as before.\n\n", r.allowedPairs())
	} else {
		b.WriteString("| | change | decided by | why |\n| --- | --- | --- | --- |\n")
		for _, c := range changes {
			mark, why := "➖", c.After.Refusal()
			if c.Granted() {
				mark, why = "➕", "was: "+c.Before.Refusal()
			}
			sentence := c.Sentence()
			if c.CrossNamespace {
				sentence += " · cross-namespace"
			}
			if c.Granted() && (r.Gate == GateAnyGrant || (r.Gate == GateCrossNamespace && c.CrossNamespace)) {
				sentence = "**" + sentence + "**"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mark, cell(sentence), cell(strings.Join(c.Causes, "; ")), cell(why))
		}
		b.WriteString("\n")
		r.writeGraph(b, changes)
	}
	if a := r.Access; a != nil && a.Matrix != nil && len(a.Identities) > 1 {
		b.WriteString("<details><summary>Access matrix (rows call columns; before → after where it changed)</summary>\n\n")
		b.WriteString("| caller \\ callee |")
		for _, id := range a.Identities {
			fmt.Fprintf(b, " %s |", cell(id.Key()))
		}
		b.WriteString("\n| --- |" + strings.Repeat(" :---: |", len(a.Identities)) + "\n")
		for i, caller := range a.Identities {
			fmt.Fprintf(b, "| %s |", cell(caller.Key()))
			for j := range a.Identities {
				fmt.Fprintf(b, " %s |", matrixCell(i, j, a))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n✅ allowed · ⛔ denied · – absent\n\n</details>\n\n")
	}
}

func matrixCell(i, j int, a *access.Result) string {
	if i == j {
		return "·"
	}
	sym := func(v access.Verdict) string {
		switch {
		case !v.Exists:
			return "–"
		case v.Allow:
			return "✅"
		}
		return "⛔"
	}
	before, after := sym(a.BaseMatrix[i][j]), sym(a.Matrix[i][j])
	if before == after {
		return after
	}
	return before + " → " + after
}

// allowedPairs counts the allowed pairs of the matrix; without one (a large revision)
// the pairs compared.
func (r *Report) allowedPairs() int {
	if r.Access == nil {
		return 0
	}
	if r.Access.Matrix == nil {
		return r.Access.Pairs
	}
	n := 0
	for _, row := range r.Access.Matrix {
		for _, v := range row {
			if v.Allow {
				n++
			}
		}
	}
	return n
}

// writeGraph draws the changed edges: a solid arrow for a new call, a dotted one for a
// call that is no longer allowed.
func (r *Report) writeGraph(b *strings.Builder, changes []access.Change) {
	b.WriteString("```mermaid\ngraph LR\n")
	ids := map[string]string{}
	node := func(id renderers.Identity) string {
		if n, ok := ids[id.Key()]; ok {
			return n
		}
		n := fmt.Sprintf("n%d", len(ids))
		ids[id.Key()] = n
		fmt.Fprintf(b, "  %s[\"%s\"]\n", n, id.Key())
		return n
	}
	var links []string
	for _, c := range changes {
		from, to := node(c.Caller), node(c.Callee)
		if c.Granted() {
			links = append(links, fmt.Sprintf("  %s -->|now allowed| %s", from, to))
		} else {
			links = append(links, fmt.Sprintf("  %s -.->|no longer allowed| %s", from, to))
		}
	}
	b.WriteString(strings.Join(links, "\n"))
	b.WriteString("\n```\n\n")
}

func (r *Report) writeTests(b *strings.Builder) {
	b.WriteString("### Rego tests\n\n")
	if len(r.Tests) == 0 && len(r.TestErrors) == 0 {
		b.WriteString("The head's policies have no tests (`*_test.rego`).\n")
		return
	}
	failed := r.failedTests()
	fmt.Fprintf(b, "%d passed, %d failed.\n", len(r.Tests)-failed, failed)
	for _, e := range r.TestErrors {
		fmt.Fprintf(b, "\n- ❌ `%s`", e)
	}
	for _, t := range r.Tests {
		if !t.Pass {
			fmt.Fprintf(b, "\n- ❌ `%s/%s` `%s:%d` %s %s", t.Namespace, t.Name, t.Path, t.Line, t.Test, t.Error)
		}
	}
	b.WriteString("\n")
}

// cell makes text safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
