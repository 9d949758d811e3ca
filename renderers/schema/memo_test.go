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
		if len(memo.cur) != 1 {
			t.Fatalf("check %d: %d objects remembered, want the good one", i+1, len(memo.cur))
		}
	}
}

// TestMemoBound: the memo keeps two generations of memoSize objects.
func TestMemoBound(t *testing.T) {
	m := &Memo{}
	for i := range memoSize*2 + 10 {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		m.put(k)
	}
	if len(m.cur) > memoSize || len(m.prev) > memoSize {
		t.Fatalf("%d + %d kept", len(m.cur), len(m.prev))
	}
	var first [32]byte
	if m.passed(first) {
		t.Error("the oldest object is still remembered")
	}
}
