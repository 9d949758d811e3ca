package generations

import "sync"

// DefaultSize is a generation's bound when Map.Size is zero.
const DefaultSize = 1 << 16

// Map keeps two generations of at most Size entries: lookups find either, a hit in the
// older is moved to the newer, inserts go to the newer, and a full newer generation
// replaces the older. The zero Map is ready; it is safe for concurrent use.
type Map[K comparable, V any] struct {
	// Size bounds each generation; zero means DefaultSize. Set it before first use.
	Size int

	mu       sync.Mutex
	cur, old map[K]V
}

// Get returns the value of k, if either generation has it.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.old[k]
	if ok {
		m.putLocked(k, v)
	}
	return v, ok
}

// Put remembers v for k in the newer generation.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(k, v)
}

func (m *Map[K, V]) putLocked(k K, v V) {
	size := m.Size
	if size <= 0 {
		size = DefaultSize
	}
	if len(m.cur) >= size {
		m.old, m.cur = m.cur, nil
	}
	if m.cur == nil {
		m.cur = map[K]V{}
	}
	m.cur[k] = v
}

// Len is the number of entries of both generations.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.old)
}
