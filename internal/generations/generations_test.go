package generations

import "testing"

// TestMap: at most two generations of Size entries are kept, the most recent stay, and
// a hit in the older generation keeps the entry through the next turn.
func TestMap(t *testing.T) {
	m := &Map[int, int]{Size: 4}
	for i := range 10 {
		m.Put(i, i*i)
	}
	if n := m.Len(); n > 8 {
		t.Fatalf("%d entries kept, bound 8", n)
	}
	if v, ok := m.Get(9); !ok || v != 81 {
		t.Fatalf("the newest entry: %d, %v", v, ok)
	}
	if _, ok := m.Get(0); ok {
		t.Fatal("the oldest entry is still kept")
	}
	// 6 and 7 are in the older generation now: a hit moves 6 to the newer.
	if _, ok := m.Get(6); !ok {
		t.Fatal("6 was dropped too early")
	}
	for i := 10; i < 13; i++ {
		m.Put(i, i)
	}
	if _, ok := m.Get(6); !ok {
		t.Error("6, used recently, was dropped")
	}
	if _, ok := m.Get(7); ok {
		t.Error("7, not used, outlived two turns")
	}
	var zero Map[string, bool]
	zero.Put("a", true)
	if v, ok := zero.Get("a"); !ok || !v {
		t.Error("the zero Map does not remember")
	}
}
