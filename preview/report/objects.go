package report

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/preview/diff"
)

// Limits that keep a comment readable and under the hosts' size limits (GitHub: 65,536
// characters); the JSON report has everything.
const (
	maxObjects     = 100
	maxFields      = 15
	maxValueLength = 80
)

func (r *Report) writeObjects(b *strings.Builder) {
	b.WriteString("### Objects\n\n")
	if r.Objects.Empty() {
		b.WriteString("No object changes.\n\n")
		return
	}
	fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", r.Objects.Summary())
	for i, c := range r.Objects.Changes {
		if i == maxObjects {
			fmt.Fprintf(b, "- … and %d more (see `trustsync diff` or `--format json`)\n", len(r.Objects.Changes)-maxObjects)
			break
		}
		ref := fmt.Sprintf("`%s`", c.Ref())
		switch c.Action {
		case diff.Added:
			fmt.Fprintf(b, "- ➕ %s%s\n", ref, source(c))
		case diff.Removed:
			fmt.Fprintf(b, "- ➖ %s%s\n", ref, source(c))
		default:
			fmt.Fprintf(b, "- ✏️ %s%s\n", ref, source(c))
			for j, f := range c.Fields {
				if j == maxFields {
					fmt.Fprintf(b, "  - … and %d more fields\n", len(c.Fields)-maxFields)
					break
				}
				if lines, ok := textDiff(f); ok {
					fmt.Fprintf(b, "  - `%s`:\n\n    ```diff\n%s    ```\n\n", f.Path, lines)
					continue
				}
				fmt.Fprintf(b, "  - `%s`: %s\n", f.Path, fieldChange(f))
			}
			if len(c.Followed) > 0 {
				fmt.Fprintf(b, "  - followed: `%s`\n", strings.Join(c.Followed, "`, `"))
			}
		}
	}
	b.WriteString("\n</details>\n\n")
}

func source(c diff.Change) string {
	if c.Source == "" {
		return " (generated)"
	}
	return " (" + c.Source + ")"
}

func fieldChange(f diff.FieldChange) string {
	switch {
	case f.Redacted:
		return "changed (value not shown)"
	case f.Added:
		return "added " + value(f.New)
	case f.Removed:
		return "removed (was " + value(f.Old) + ")"
	}
	return value(f.Old) + " → " + value(f.New)
}

// value is a field value as short inline code.
func value(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return "`?`"
	}
	s := string(data)
	if r := []rune(s); len(r) > maxValueLength {
		s = string(r[:maxValueLength-1]) + "…"
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
