package policy

import (
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestRuleCacheIsOPAs: the rule cache answers every Get as OPA's own VirtualCache does,
// through frames, undefined marks and past the size where it starts indexing.
func TestRuleCacheIsOPAs(t *testing.T) {
	ref := func(i int) ast.Ref { return ast.MustParseRef(fmt.Sprintf("data.authbridge.ns.p%d.allow", i%40)) }
	ours, theirs := newRuleCache(), topdown.NewVirtualCache()
	check := func(step string) {
		t.Helper()
		for i := range 40 {
			gv, gu := ours.Get(ref(i))
			wv, wu := theirs.Get(ref(i))
			if gu != wu || (gv == nil) != (wv == nil) || (gv != nil && !gv.Equal(wv)) {
				t.Fatalf("%s: Get(%v) = %v, %v; OPA's gives %v, %v", step, ref(i), gv, gu, wv, wu)
			}
		}
		if g, w := len(ours.Keys()), len(theirs.Keys()); g != w {
			t.Fatalf("%s: %d keys, OPA's has %d", step, g, w)
		}
	}
	put := func(i int, v *ast.Term) {
		ours.Put(ref(i), v)
		theirs.Put(ref(i), v)
	}
	check("empty")
	for i := range 30 { // past flatLimit: the frame is indexed
		var v *ast.Term
		if i%3 != 0 {
			v = ast.IntNumberTerm(i)
		}
		put(i, v)
		check(fmt.Sprintf("after %d puts", i+1))
	}
	put(1, ast.StringTerm("again")) // a defined value replaced
	put(2, nil)                     // a defined value marked undefined
	put(3, ast.BooleanTerm(true))   // an undefined one given a value
	check("after overwrites")
	ours.Push()
	theirs.Push()
	put(5, ast.BooleanTerm(false))
	check("in a new frame")
	ours.Pop()
	theirs.Pop()
	check("after the frame")
}
