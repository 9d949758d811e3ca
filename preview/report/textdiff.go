package report

import (
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/preview/diff"
)

// maxDiffLines bounds the line diff of one multi-line value.
const maxDiffLines = 400

// textDiff shows a change of multi-line text (a Rego file, a config file) as the lines
// removed and added, with one line of context, instead of two long strings.
func textDiff(f diff.FieldChange) (string, bool) {
	old, ok1 := f.Old.(string)
	nu, ok2 := f.New.(string)
	if f.Redacted || !ok1 || !ok2 || (!strings.Contains(old, "\n") && !strings.Contains(nu, "\n")) {
		return "", false
	}
	if strings.Count(old, "\n") > maxDiffLines || strings.Count(nu, "\n") > maxDiffLines {
		return "", false
	}
	edit := diff.LineEdit(old, nu)
	var out strings.Builder
	for k, l := range edit {
		near := l.Op != ' '
		for d := -1; d <= 1 && !near; d += 2 {
			near = k+d >= 0 && k+d < len(edit) && edit[k+d].Op != ' '
		}
		if near {
			// A fence inside the block would end it.
			fmt.Fprintf(&out, "    %c %s\n", l.Op, strings.ReplaceAll(l.Text, "```", "'''"))
		}
	}
	return out.String(), true
}
