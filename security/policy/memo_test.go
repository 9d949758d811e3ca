package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// clientDecider is the Decider of team-b/planner-agent with the default global policy
// and a client policy of these inbound/request rules (and any extra files).
func clientDecider(t *testing.T, rules string, extra ...string) *Decider {
	t.Helper()
	files := append([]string{"inbound/request.rego", "package authbridge.client.inbound.request\n\n" + rules}, extra...)
	b, err := Build(testSet(ap("team-b", "planner-agent", agentv1.ScopeClient, files...)).Tiers("team-b", "planner-agent"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecider(context.Background(), b, gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReadsOfAConstantPoint: a point no input can change reads nothing.
func TestReadsOfAConstantPoint(t *testing.T) {
	d := clientDecider(t, "allow if input.identity.client_id == \"a\"\n")
	pt := Point{Direction: "outbound", Phase: "response"} // only the default modules decide there
	f, ok := d.Reads(pt)
	if !ok || f.Has("identity") || f.Has("method") {
		t.Errorf("Reads at %s = %+v, %v, want none", pt, f, ok)
	}
}

// TestMemoReads: the memo's key is every input field the point's rules can reach, through
// rules, functions, other packages, else chains, comprehensions and with; rules that read
// the input whole or at a computed key have no memo.
func TestMemoReads(t *testing.T) {
	lib := []string{"lib/lib.rego", "package authbridge.client.lib\n\nok if input.lib.flag\n\nf(x) := x == input.lib.arg\n"}
	for _, tc := range []struct {
		name  string
		rules string
		extra []string
		reads string // "" for no memo
	}{
		{"one field", "allow if input.identity.client_id == \"a\"\n", nil, "input.identity.client_id"},
		{"fields under one another keep the shorter", "allow if {\n\tinput.a2a.method == \"x\"\n\tcount(input.a2a) > 0\n}\n", nil, "input.a2a"},
		{"a key computed from the input", "allow if input.headers[input.identity.client_id] == \"x\"\n", nil, "input.headers input.identity.client_id"},
		{"iteration reads the collection", "allow if {\n\tsome s in input.identity.scopes\n\ts == \"read\"\n}\n", nil, "input.identity.scopes"},
		{"a comprehension", "allow if count([h | some h, _ in input.headers; startswith(h, \"x-\")]) == 0\n", nil, "input.headers"},
		{"an else chain", "default allow := false\n\nallow := true if input.method == \"GET\"\n\telse := true if input.path == \"/\"\n", nil, "input.method input.path"},
		{"a rule and a function of another package", "allow if {\n\tdata.authbridge.client.lib.ok\n\tdata.authbridge.client.lib.f(1)\n}\n", lib, "input.lib.arg input.lib.flag"},
		{"a package read whole", "allow if {\n\tx := data.authbridge.client.lib\n\tx.ok\n}\n", []string{"lib/lib.rego", "package authbridge.client.lib\n\nok if input.lib.flag\n\nother := input.lib.other\n"}, "input.lib.flag input.lib.other"},
		{"a with target", "allow if data.authbridge.client.lib.ok with input.lib.flag as true\n", lib, "input.lib.flag"},
		{"the input whole", "allow if {\n\tx := input\n\tx.method == \"GET\"\n}\n", nil, ""},
		{"the input as an argument", "allow if object.get(input, \"method\", \"\") == \"GET\"\n", nil, ""},
		{"the input at a computed key", "allow if {\n\tsome k\n\tinput[k] == \"GET\"\n}\n", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := clientDecider(t, tc.rules, tc.extra...)
			pt := Points[0]
			m := d.memos[pt]
			if d.Remembers(pt) != (tc.reads != "") {
				t.Errorf("Remembers = %v, want %v", d.Remembers(pt), tc.reads != "")
			}
			if f, ok := d.Reads(pt); ok != (tc.reads != "") || ok && !f.Has(strings.Split(strings.Fields(tc.reads)[0], ".")[1]) || ok && f.Has("response") {
				t.Errorf("Reads = %+v, %v, want the top-level keys of %q", f, ok, tc.reads)
			}
			if tc.reads == "" {
				if m != nil {
					t.Fatalf("a memo keyed on %v, want none", m.reads)
				}
				return
			}
			if m == nil {
				t.Fatalf("no memo, want one keyed on %s", tc.reads)
			}
			var got []string
			for _, r := range m.reads {
				got = append(got, r.String())
			}
			if strings.Join(got, " ") != tc.reads {
				t.Errorf("reads %v, want %s", got, tc.reads)
			}
		})
	}
}

// TestMemoDecisions: a remembered decision is the evaluated one for every input; an input
// that differs in a field the rules read is evaluated anew, one that differs elsewhere is
// answered from the memo.
func TestMemoDecisions(t *testing.T) {
	ctx := context.Background()
	d := clientDecider(t, "default allow := false\n\nallow if {\n\tinput.identity.client_id == \""+idA+"\"\n\tinput.a2a.method == \"message/send\"\n}\n")
	pt := Points[0]
	m := d.memos[pt]
	if m == nil {
		t.Fatal("no memo")
	}
	bare := *d
	bare.memos = nil
	in := func(client, method, path string) ast.Value {
		v, err := ast.InterfaceToValue(Call{Caller: Party{ID: client}, Callee: Party{ID: idB}, A2AMethod: method, Path: path}.Input(pt))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, tc := range []struct {
		input   ast.Value
		allow   bool
		entries int // in the memo afterwards
	}{
		{in(idA, "message/send", "/"), true, 1},
		{in(idA, "message/send", "/other"), true, 1}, // the path is not read: remembered
		{in(idA, "tasks/cancel", "/"), false, 2},
		{in(idC, "message/send", "/"), false, 3},
		{in(idC, "message/send", "/x"), false, 3},
		{ast.MustParseTerm(`{"identity": {"client_id": "` + idA + `"}}`).Value, false, 4}, // a2a absent is a key of its own
		{ast.MustParseTerm(`{"identity": {"client_id": "` + idA + `"}, "a2a": {"method": "message/send"}}`).Value, true, 4}, // the first one's key
	} {
		got, want := d.DecideValue(ctx, pt, tc.input), bare.DecideValue(ctx, pt, tc.input)
		if got != want || got.Allow != tc.allow {
			t.Errorf("%d: memo %v, evaluated %v, want allow=%v", i, got, want, tc.allow)
		}
		if n := m.decisions.Len(); n != tc.entries {
			t.Errorf("%d: %d decisions remembered, want %d", i, n, tc.entries)
		}
	}
}

// TestMemoBounds: the memo holds at most two generations, and a key past its bound is
// evaluated without being remembered.
func TestMemoBounds(t *testing.T) {
	ctx := context.Background()
	d := clientDecider(t, "allow if input.identity.client_id == \""+idA+"\"\n")
	pt := Points[0]
	m := d.memos[pt]
	for i := range 3*memoEntries + 7 {
		d.DecideValue(ctx, pt, ast.MustParseTerm(fmt.Sprintf(`{"identity": {"client_id": "c%d"}}`, i)).Value)
	}
	if n := m.decisions.Len(); n > 2*memoEntries {
		t.Errorf("%d decisions remembered, bound %d", n, 2*memoEntries)
	}
	fresh := clientDecider(t, "allow if input.identity.client_id == \""+idA+"\"\n")
	long := ast.MustParseTerm(`{"identity": {"client_id": "` + strings.Repeat("x", memoKeyBytes) + `"}}`).Value
	if got := fresh.DecideValue(ctx, pt, long); got.Allow {
		t.Errorf("a long client ID: %v, want deny", got)
	}
	if m := fresh.memos[pt]; m.decisions.Len() != 0 {
		t.Error("a key past the bound was remembered")
	}
}

// TestMemoSkipsFailures: a decision whose evaluation failed is not remembered.
func TestMemoSkipsFailures(t *testing.T) {
	ctx := context.Background()
	d := clientDecider(t, "allow := true if input.method == \"POST\"\n\nallow := false if input.path == \"/\"\n")
	pt := Points[0]
	in := ast.MustParseTerm(`{"method": "POST", "path": "/"}`).Value
	if got := d.DecideValue(ctx, pt, in); got.Allow || !strings.Contains(got.Reason, "failed to evaluate") {
		t.Fatalf("a conflict: %v, want the evaluation's error", got)
	}
	if m := d.memos[pt]; m.decisions.Len() != 0 {
		t.Errorf("the failure was remembered")
	}
}
