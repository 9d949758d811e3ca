package diff

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the result for a terminal: the summary line, then one line per
// object ("+ Kind ns/name (file)", "- ...", "~ Kind ns/name") with its changed fields
// indented below as "path: old → new". Multi-line strings (policies, config files) show
// as the lines removed and added. Objects whose only change is a followed hash end the
// list as "= Kind ns/name".
func (r Result) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, r.Summary())
	for _, c := range r.Changes {
		writeChange(bw, c)
	}
	for _, c := range r.FollowedOnly {
		fmt.Fprintf(bw, "= %s (%s follows its inputs)\n", c.Ref(), strings.Join(c.Followed, ", "))
	}
	return bw.Flush()
}

func writeChange(w io.Writer, c Change) {
	switch c.Action {
	case Added, Removed:
		sign, src := "+", c.Source
		if c.Action == Removed {
			sign = "-"
		}
		if src == "" {
			src = "generated"
		}
		fmt.Fprintf(w, "%s %s (%s)\n", sign, c.Ref(), src)
		return
	}
	fmt.Fprintf(w, "~ %s\n", c.Ref())
	for _, f := range c.Fields {
		writeField(w, f)
	}
	if len(c.Followed) > 0 {
		fmt.Fprintf(w, "    (%s follows its inputs)\n", strings.Join(c.Followed, ", "))
	}
}

func writeField(w io.Writer, f FieldChange) {
	if f.Redacted {
		what := "changed"
		switch {
		case f.Added:
			what = "added"
		case f.Removed:
			what = "removed"
		}
		fmt.Fprintf(w, "    %s: %s (value redacted)\n", f.Path, what)
		return
	}
	if multiLine(f.Old) || multiLine(f.New) {
		oldText, _ := f.Old.(string)
		newText, _ := f.New.(string)
		_, oldStr := f.Old.(string)
		_, newStr := f.New.(string)
		if (oldStr || f.Old == nil) && (newStr || f.New == nil) {
			fmt.Fprintf(w, "    %s:\n", f.Path)
			for _, l := range lineDiff(oldText, newText) {
				fmt.Fprintf(w, "      %s\n", l)
			}
			return
		}
	}
	fmt.Fprintf(w, "    %s: %s → %s\n", f.Path, value(f.Old), value(f.New))
}

func multiLine(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(strings.TrimSuffix(s, "\n"), "\n")
}

// value is a JSON value on one line; an absent one is (none).
func value(v any) string {
	if v == nil {
		return "(none)"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maxLineDiff bounds the line diff's table; larger texts show whole.
const maxLineDiff = 1 << 20

// Line is one line of a line-by-line edit: Op is ' ' (in both), '-' (only in the old
// text) or '+' (only in the new).
type Line struct {
	Op   byte
	Text string
}

// LineEdit turns old into new line by line, from a longest common subsequence of lines,
// removals before additions as diff(1) shows them. Texts too large for the table come
// back as all old lines removed and all new lines added.
func LineEdit(old, new string) []Line {
	a, b := lines(old), lines(new)
	var out []Line
	if len(a)*len(b) > maxLineDiff {
		for _, l := range a {
			out = append(out, Line{'-', l})
		}
		for _, l := range b {
			out = append(out, Line{'+', l})
		}
		return out
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, Line{' ', a[i]})
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, Line{'-', a[i]})
			i++
		default:
			out = append(out, Line{'+', b[j]})
			j++
		}
	}
	return out
}

// lineDiff returns the lines only in old ("- ...") and only in new ("+ ..."), in text
// order.
func lineDiff(old, new string) []string {
	var out []string
	for _, l := range LineEdit(old, new) {
		if l.Op != ' ' {
			out = append(out, marked(string(l.Op), l.Text))
		}
	}
	return out
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func marked(sign, line string) string {
	if line == "" {
		return sign
	}
	return sign + " " + line
}
