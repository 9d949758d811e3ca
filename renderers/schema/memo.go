package schema

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/trustsync/trustsync/internal/generations"
	"github.com/trustsync/trustsync/manifest"
)

// Memo remembers the objects that passed the check, by content (manifest.Hash), so a
// render checks anew only what changed since the renders before. What failed is always
// checked again: its errors name its file, which the content does not hold. It keeps two
// generations of 65,536 objects. The zero Memo is ready; it is safe for concurrent
// checks.
type Memo struct {
	passes generations.Map[[sha256.Size]byte, struct{}]
}

func (m *Memo) passed(k [sha256.Size]byte) bool {
	_, ok := m.passes.Get(k)
	return ok
}

func (m *Memo) put(k [sha256.Size]byte) { m.passes.Put(k, struct{}{}) }

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
