package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/preview/diff"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

func change(callerNS, calleeNS string, granted bool) access.Change {
	allow, deny := access.Verdict{Exists: true, Allow: true}, access.Verdict{Exists: true, Inbound: policy.Decision{Reason: "refused"}}
	c := access.Change{
		Caller: renderers.Identity{Namespace: callerNS, Name: "a"}, Callee: renderers.Identity{Namespace: calleeNS, Name: "b"},
		Before: allow, After: deny, CrossNamespace: callerNS != calleeNS,
	}
	if granted {
		c.Before, c.After = deny, allow
	}
	return c
}

func TestGates(t *testing.T) {
	tests := []struct {
		name    string
		gate    Gate
		changes []access.Change
		tests   []policy.TestResult
		head    []string
		failed  string
	}{
		{"no change passes", GateCrossNamespace, nil, nil, nil, ""},
		{"a grant inside a namespace passes the cross-namespace gate", GateCrossNamespace, []access.Change{change("x", "x", true)}, nil, nil, ""},
		{"a cross-namespace grant fails it", GateCrossNamespace, []access.Change{change("x", "y", true)}, nil, nil, "new cross-namespace access: x/a may now call y/b"},
		{"a revocation never fails", GateAnyGrant, []access.Change{change("x", "y", false)}, nil, nil, ""},
		{"any-grant fails on a grant inside a namespace", GateAnyGrant, []access.Change{change("x", "x", true)}, nil, nil, "new access: x/a may now call x/b"},
		{"none passes a cross-namespace grant", GateNone, []access.Change{change("x", "y", true)}, nil, nil, ""},
		{"a failing test fails whatever the gate", GateNone, nil, []policy.TestResult{{Pass: true}, {Pass: false}}, nil, "1 Rego test failed"},
		{"a head that does not render fails first", GateNone, nil, nil, []string{"a.yaml: bad"}, "the head does not render: a.yaml: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Gate: tt.gate, Access: &access.Result{Changes: tt.changes}, Tests: tt.tests, HeadErrors: tt.head}
			if got := r.Failed(); got != tt.failed {
				t.Errorf("Failed() = %q, want %q", got, tt.failed)
			}
		})
	}
}

func TestSummaryAndJSON(t *testing.T) {
	r := &Report{
		Path: "apps", Gate: GateCrossNamespace,
		Base: Revision{Ref: "main", Commit: "1111111111111111"}, Head: Revision{Ref: "pr", Commit: "2222222222222222"},
		Access:  &access.Result{Changes: []access.Change{change("x", "y", true), change("x", "x", false)}, Pairs: 6},
		Objects: diff.Result{Changes: []diff.Change{{Action: diff.Changed, Kind: "ConfigMap", Namespace: "x", Name: "c"}}},
		Tests:   []policy.TestResult{{Pass: true}, {Pass: true}},
	}
	if got, want := r.Summary(), "2 access changes (1 new cross-namespace), 1 object changed, 2/2 Rego tests passed"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	if err := r.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Summary       string `json:"summary"`
		Failed        string `json:"failed"`
		AccessChanges []struct {
			Sentence, Before, After string
			CrossNamespace          bool
		} `json:"accessChanges"`
		ObjectChanges []diff.Change `json:"objectChanges"`
		Pairs         int           `json:"pairs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if out.Summary != r.Summary() || out.Failed == "" || len(out.AccessChanges) != 2 || out.AccessChanges[0].Before != "deny" ||
		out.AccessChanges[0].After != "allow" || !out.AccessChanges[0].CrossNamespace || len(out.ObjectChanges) != 1 || out.Pairs != 6 {
		t.Errorf("JSON %s", buf.String())
	}
}

func TestTextDiff(t *testing.T) {
	f := diff.FieldChange{Old: "a\nb\nc\nd\ne\n", New: "a\nb\nC\nd\ne\nf\n"}
	got, ok := textDiff(f)
	if !ok {
		t.Fatal("no text diff")
	}
	want := "      b\n    - c\n    + C\n      d\n      e\n    + f\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, ok := textDiff(diff.FieldChange{Old: "one line", New: "other"}); ok {
		t.Error("single-line values got a line diff")
	}
	if _, ok := textDiff(diff.FieldChange{Old: "a\nb", New: "a\nc", Redacted: true}); ok {
		t.Error("a redacted value got a line diff")
	}
	if got, _ := textDiff(diff.FieldChange{Old: "x\n```\n", New: "y\n```\n"}); strings.Contains(got, "```") {
		t.Errorf("a fence inside the value would end the block: %q", got)
	}
}
