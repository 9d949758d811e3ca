package schema

import (
	"testing"

	"github.com/trustsync/trustsync/manifest"
)

// TestCheckWithMemo: with a memo, the check reports what Check reports, every time;
// what passed is remembered and what failed is not.
func TestCheckWithMemo(t *testing.T) {
	good := object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: v}\n")
	bad := object(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\nspec: {replica: 1}\n")
	objs := []*manifest.Object{good, bad}
	want := Check(objs)
	if want == nil {
		t.Fatal("the bad Deployment passed")
	}
	memo := &Memo{}
	for i := range 2 {
		got := CheckWith(objs, memo)
		if got == nil || got.Error() != want.Error() {
			t.Fatalf("check %d with the memo: %v; want %v", i+1, got, want)
		}
		if n := memo.passes.Len(); n != 1 {
			t.Fatalf("check %d: %d objects remembered, want the good one", i+1, n)
		}
	}
}
