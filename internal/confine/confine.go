package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

var (
	// ErrOutside marks a path or a link target that leaves the tree.
	ErrOutside = errors.New("outside the tree")
	// ErrTooManyLinks marks a path that follows more links than the bound, as the
	// kernel's ELOOP: a loop, or a chain too long to be meant.
	ErrTooManyLinks = errors.New("too many levels of symbolic links")
)

// Error is a path Resolve refused; errors.Is finds its Err (ErrOutside or
// ErrTooManyLinks).
type Error struct {
	// Path is the path given to Resolve.
	Path string
	// Link and Target are the symbolic link whose target left the tree, and that
	// target; both are empty when Path climbs out by itself or Err is ErrTooManyLinks.
	Link, Target string
	Err          error
}

func (e *Error) Error() string {
	switch {
	case e.Link != "":
		return fmt.Sprintf("path %q: symlink %q -> %q points %v", e.Path, e.Link, e.Target, e.Err)
	case errors.Is(e.Err, ErrOutside):
		return fmt.Sprintf("path %q is %v", e.Path, e.Err)
	default:
		return fmt.Sprintf("path %q: %v", e.Path, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// step is one element still to resolve, with the link whose target it came from (nil
// for the elements of the path itself), to name that link when the element climbs out.
type step struct {
	elem string
	from *link
}

type link struct{ name, target string }

// Resolve follows every symbolic link in name, a slash path relative to the root of
// fsys, and returns the real path it reaches, with no link left in it.
//
// A link's target is taken from the link's directory and ".." from the real path
// reached, as the kernel does; an absolute or empty target, or ".." above the root, is
// an *Error with ErrOutside, and following more than maxHops links one with
// ErrTooManyLinks. An element fsys cannot Lstat (missing, or below a file) is kept as it
// is and the walk goes on, so a dangling link resolves while it stays inside, and the
// caller's own lookup of the result fails.
func Resolve(fsys fs.ReadLinkFS, name string, maxHops int) (string, error) {
	if path.IsAbs(name) {
		return "", &Error{Path: name, Err: ErrOutside}
	}
	pending := steps(name, nil)
	resolved := "."
	hops := 0
	for len(pending) > 0 {
		s := pending[0]
		pending = pending[1:]
		switch s.elem {
		case "", ".":
			continue
		case "..":
			if resolved == "." {
				e := &Error{Path: name, Err: ErrOutside}
				if s.from != nil {
					e.Link, e.Target = s.from.name, s.from.target
				}
				return "", e
			}
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, s.elem)
		info, err := fsys.Lstat(next)
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxHops {
			return "", &Error{Path: name, Err: ErrTooManyLinks}
		}
		target, err := fsys.ReadLink(next)
		if err != nil {
			return "", fmt.Errorf("symlink %q: %w", next, err)
		}
		target = filepath.ToSlash(target)
		if target == "" || path.IsAbs(target) {
			return "", &Error{Path: name, Link: next, Target: target, Err: ErrOutside}
		}
		pending = append(steps(target, &link{name: next, target: target}), pending...)
	}
	return resolved, nil
}

func steps(p string, from *link) []step {
	elems := strings.Split(p, "/")
	out := make([]step, len(elems))
	for i, e := range elems {
		out[i] = step{elem: e, from: from}
	}
	return out
}
