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

// segment is a part of a path still to resolve, with the link whose target it came
// from (nil for the path itself), to name that link when an element climbs out.
type segment struct {
	rest string
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
	// The innermost link's target is on top; most paths hold no link and never grow it.
	stack := append(make([]segment, 0, 4), segment{rest: name})
	resolved := "."
	hops := 0
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		elem, rest, more := strings.Cut(top.rest, "/")
		from := top.from
		if more {
			top.rest = rest
		} else {
			stack = stack[:len(stack)-1]
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			if resolved == "." {
				e := &Error{Path: name, Err: ErrOutside}
				if from != nil {
					e.Link, e.Target = from.name, from.target
				}
				return "", e
			}
			resolved = path.Dir(resolved)
			continue
		}
		next := elem
		if resolved != "." {
			next = resolved + "/" + elem // elem is one clean element: path.Join's result
		}
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
		stack = append(stack, segment{rest: target, from: &link{name: next, target: target}})
	}
	return resolved, nil
}
