package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// ruleCache is the cache of rule values within one evaluation (OPA's VirtualCache),
// made for the few rules a decision evaluates: a frame is a list searched in order,
// where OPA's own is a tree of hash maps with one level per ref segment, whose
// allocations were a quarter of a decision. A frame past flatLimit entries is indexed
// by the refs' hashes, so a policy of many rules stays linear.
type ruleCache struct {
	frames []ruleFrame
}

const flatLimit = 16

type ruleFrame struct {
	entries []ruleEntry
	index   map[int][]int // hash of the ref → entries, once there are more than flatLimit
}

type ruleEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*ruleCache)(nil)

func newRuleCache() *ruleCache {
	c := &ruleCache{frames: make([]ruleFrame, 1, 2)}
	c.frames[0].entries = make([]ruleEntry, 0, 8)
	return c
}

func (c *ruleCache) Push() { c.frames = append(c.frames, ruleFrame{}) }

func (c *ruleCache) Pop() {
	if len(c.frames) > 0 {
		c.frames[len(c.frames)-1] = ruleFrame{}
		c.frames = c.frames[:len(c.frames)-1]
	}
}

func (c *ruleCache) top() *ruleFrame {
	if len(c.frames) == 0 {
		c.Push()
	}
	return &c.frames[len(c.frames)-1]
}

// find is the index of ref's entry in f, -1 when there is none.
func (f *ruleFrame) find(ref ast.Ref) int {
	if f.index != nil {
		for _, i := range f.index[ref.Hash()] {
			if f.entries[i].ref.Equal(ref) {
				return i
			}
		}
		return -1
	}
	for i := range f.entries {
		if f.entries[i].ref.Equal(ref) {
			return i
		}
	}
	return -1
}

// Get is OPA's contract: (value, false) when cached, (nil, true) when cached as
// undefined, (nil, false) when not cached.
func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) {
	f := c.top()
	i := f.find(ref)
	if i < 0 {
		return nil, false
	}
	if e := f.entries[i]; !e.undefined {
		return e.value, false
	}
	return nil, true
}

// Put caches value at ref; nil marks ref undefined (for good, as in OPA's).
func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.top()
	i := f.find(ref)
	if i < 0 {
		f.entries = append(f.entries, ruleEntry{ref: ref})
		i = len(f.entries) - 1
		f.indexLast()
	}
	if value != nil {
		f.entries[i].value = value
	} else {
		f.entries[i].undefined = true
	}
}

// indexLast indexes the entry just added, and the frame once it is past flatLimit.
func (f *ruleFrame) indexLast() {
	last := len(f.entries) - 1
	switch {
	case f.index != nil:
		h := f.entries[last].ref.Hash()
		f.index[h] = append(f.index[h], last)
	case len(f.entries) > flatLimit:
		f.index = make(map[int][]int, 2*len(f.entries))
		for i, e := range f.entries {
			h := e.ref.Hash()
			f.index[h] = append(f.index[h], i)
		}
	}
}

// Keys are the refs cached with a value in the top frame.
func (c *ruleCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.top().entries {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
