package schema

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/trustsync/trustsync/manifest"
)

// Memo remembers the objects that passed the check, by content (manifest.Hash), so a
// render checks anew only what changed since the renders before. What failed is always
// checked again: its errors name its file, which the content does not hold. It keeps two
// generations of at most memoSize objects. The zero Memo is ready; it is safe for
// concurrent checks.
type Memo struct {
	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]struct{}
}

const memoSize = 1 << 16

func (m *Memo) passed(k [sha256.Size]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cur[k]; ok {
		return true
	}
	if _, ok := m.prev[k]; ok {
		m.putLocked(k)
		return true
	}
	return false
}

func (m *Memo) put(k [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(k)
}

func (m *Memo) putLocked(k [sha256.Size]byte) {
	if len(m.cur) >= memoSize {
		m.prev, m.cur = m.cur, nil
	}
	if m.cur == nil {
		m.cur = map[[sha256.Size]byte]struct{}{}
	}
	m.cur[k] = struct{}{}
}

// CheckWith is Check, skipping the objects memo saw pass and remembering those that
// pass now; a nil memo checks everything.
func CheckWith(objs []*manifest.Object, memo *Memo) error {
	if memo == nil {
		return Check(objs)
	}
	var todo []*manifest.Object
	var keys [][sha256.Size]byte
	for _, o := range objs {
		k, err := manifest.Hash(o)
		if err != nil {
			todo = append(todo, o) // checked as it is; not remembered
			keys = append(keys, [sha256.Size]byte{})
			continue
		}
		if !memo.passed(k) {
			todo = append(todo, o)
			keys = append(keys, k)
		}
	}
	r, err := loadRegistry()
	if err != nil {
		return fmt.Errorf("trustsync's CRDs: %w", err)
	}
	var errs []error
	for i, o := range todo {
		oerrs := r.check(o)
		if len(oerrs) == 0 && keys[i] != ([sha256.Size]byte{}) {
			memo.put(keys[i])
		}
		errs = append(errs, oerrs...)
	}
	return errors.Join(errs...)
}
