package tokencache

import (
	"testing"
	"time"
)

type value struct{ exp time.Time }

func (v *value) Expiry() time.Time { return v.exp }

func TestBoundAndExpiry(t *testing.T) {
	c := New[*value](100)
	now := time.Now()
	key := func(i int) *[32]byte {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		return &k
	}
	for i := range 250 {
		exp := now.Add(time.Minute)
		if i%2 == 0 {
			exp = now.Add(time.Second) // these expire first
		}
		c.Put(key(i), &value{exp}, now)
		if i == 150 {
			now = now.Add(2 * time.Second)
		}
	}
	if n := c.Len(); n > 100 {
		t.Errorf("%d entries, bound 100", n)
	}
	if c.Get(key(249), now) == nil {
		t.Error("the newest entry was evicted")
	}
	if c.Get(key(249), now.Add(time.Minute)) != nil {
		t.Error("an entry served at its expiry")
	}
	c.Put(key(1000), &value{now}, now)
	if c.Get(key(1000), now) != nil {
		t.Error("an expired value was cached")
	}
}
