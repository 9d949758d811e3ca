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
	r, err := loadRegistry()
	if err != nil {
		return fmt.Errorf("trustsync's CRDs: %w", err) // a build without valid CRDs is broken
	}
	var errs []error
	for _, o := range objs {
		var key [sha256.Size]byte
		remember := false
		if memo != nil {
			var herr error
			if key, herr = manifest.Hash(o); herr == nil { // else checked, not remembered
				if memo.passed(key) {
					continue
				}
				remember = true
			}
		}
		oerrs := r.check(o)
		if remember && len(oerrs) == 0 {
			memo.put(key)
		}
		errs = append(errs, oerrs...)
	}
	return errors.Join(errs...)
}
