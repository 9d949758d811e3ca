package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// treeRoot is where the source tree appears inside the build's virtual filesystem. It is
// not "/" so that a path climbing out of the tree stays visible as such.
const treeRoot = "/tree"

// maxLinkHops bounds symlink resolution, like the kernel's ELOOP.
const maxLinkHops = 40

// errOutsideTree marks paths and links that leave the source tree.
var errOutsideTree = errors.New("outside the source tree")

// tree is a read-only kustomize filesystem over an fs.FS, confined to it, with an overlay
// of files the build adds (the kustomization with origin tracking turned on).
type tree struct {
	fsys    fs.FS
	overlay map[string][]byte // tree-relative path → content

	mu         sync.Mutex
	violations []error
}

var _ filesys.FileSystem = (*tree)(nil)

func newTree(fsys fs.FS) *tree {
	return &tree{fsys: fsys, overlay: map[string][]byte{}}
}

// violation records an attempt to leave the tree; the build reports it when it fails.
func (t *tree) violation(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.violations {
		if v.Error() == err.Error() {
			return
		}
	}
	t.violations = append(t.violations, err)
}

func (t *tree) takeViolations() []error {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.violations
	t.violations = nil
	return v
}

// rel maps a virtual path to a tree-relative one ("." for the root).
func (t *tree) rel(p string) (string, error) {
	if !path.IsAbs(p) {
		p = path.Join(treeRoot, p)
	}
	p = path.Clean(filepath.ToSlash(p))
	if p == treeRoot {
		return ".", nil
	}
	if r, ok := strings.CutPrefix(p, treeRoot+"/"); ok {
		return r, nil
	}
	outside, _ := filepath.Rel(treeRoot, p)
	err := fmt.Errorf("path %q is %w", filepath.ToSlash(outside), errOutsideTree)
	t.violation(err)
	return "", err
}

// resolve follows every symlink in a tree-relative path and returns the real path inside
// the tree. A link that leads out of the tree is an error. A missing element ends the
// walk: the remaining path is returned as is, for the caller's lookup to fail.
func (t *tree) resolve(name string) (string, error) {
	pending := strings.Split(name, "/")
	resolved := "."
	hops := 0
	for len(pending) > 0 {
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if resolved == "." {
				err := fmt.Errorf("path %q is %w", name, errOutsideTree)
				t.violation(err)
				return "", err
			}
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, elem)
		if _, ok := t.overlay[next]; ok {
			resolved = next
			continue
		}
		info, err := fs.Lstat(t.fsys, next)
		if err != nil {
			return path.Join(append([]string{next}, pending...)...), nil
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", fmt.Errorf("symlink %q: too many levels of symbolic links", next)
		}
		target, err := fs.ReadLink(t.fsys, next)
		if err != nil {
			return "", fmt.Errorf("symlink %q: %w", next, err)
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) || !staysInside(resolved, target) {
			err := fmt.Errorf("symlink %q -> %q points %w", next, target, errOutsideTree)
			t.violation(err)
			return "", err
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return resolved, nil
}

// staysInside reports whether a relative link target, taken from dir, stays in the tree.
func staysInside(dir, target string) bool {
	depth := 0
	if dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	for _, elem := range strings.Split(target, "/") {
		switch elem {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

func (t *tree) real(p string) (string, error) {
	r, err := t.rel(p)
	if err != nil {
		return "", err
	}
	return t.resolve(r)
}

func (t *tree) stat(p string) (fs.FileInfo, string, error) {
	r, err := t.real(p)
	if err != nil {
		return nil, "", err
	}
	if data, ok := t.overlay[r]; ok {
		return overlayInfo{name: path.Base(r), size: int64(len(data))}, r, nil
	}
	if r == "." {
		info, err := fs.Stat(t.fsys, ".")
		return info, r, err
	}
	info, err := fs.Stat(t.fsys, r)
	if err == nil && !info.IsDir() && !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%q is not a regular file", r)
	}
	return info, r, err
}

func virtual(r string) string {
	if r == "." {
		return treeRoot
	}
	return treeRoot + "/" + r
}

// IsDir implements filesys.FileSystem.
func (t *tree) IsDir(p string) bool {
	info, _, err := t.stat(p)
	return err == nil && info.IsDir()
}

// Exists implements filesys.FileSystem.
func (t *tree) Exists(p string) bool {
	_, _, err := t.stat(p)
	return err == nil
}

// ReadFile implements filesys.FileSystem.
func (t *tree) ReadFile(p string) ([]byte, error) {
	info, r, err := t.stat(p)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%q is a directory", r)
	}
	if data, ok := t.overlay[r]; ok {
		return slices.Clone(data), nil
	}
	return fs.ReadFile(t.fsys, r)
}

// ReadDir implements filesys.FileSystem.
func (t *tree) ReadDir(p string) ([]string, error) {
	info, r, err := t.stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%q is not a directory", r)
	}
	entries, err := fs.ReadDir(t.fsys, r)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for o := range t.overlay {
		if path.Dir(o) == r && !slices.Contains(names, path.Base(o)) {
			names = append(names, path.Base(o))
		}
	}
	slices.Sort(names)
	return names, nil
}

// CleanedAbs implements filesys.FileSystem: the directory part of a path with symlinks
// resolved, and the file name when the path is a file.
func (t *tree) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	info, r, err := t.stat(p)
	if err != nil {
		return "", "", err
	}
	if info.IsDir() {
		return filesys.ConfirmedDir(virtual(r)), "", nil
	}
	return filesys.ConfirmedDir(virtual(path.Dir(r))), path.Base(r), nil
}

// Open implements filesys.FileSystem; the file is read-only.
func (t *tree) Open(p string) (filesys.File, error) {
	info, _, err := t.stat(p)
	if err != nil {
		return nil, err
	}
	data, err := t.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return &readOnlyFile{Reader: bytes.NewReader(data), info: info}, nil
}

// Glob implements filesys.FileSystem.
func (t *tree) Glob(pattern string) ([]string, error) {
	r, err := t.rel(pattern)
	if err != nil {
		return nil, err
	}
	matches, err := fs.Glob(t.fsys, r)
	if err != nil {
		return nil, err
	}
	for o := range t.overlay {
		if ok, _ := path.Match(r, o); ok && !slices.Contains(matches, o) {
			matches = append(matches, o)
		}
	}
	slices.Sort(matches)
	for i, m := range matches {
		matches[i] = virtual(m)
	}
	return matches, nil
}

// Walk implements filesys.FileSystem.
func (t *tree) Walk(p string, walkFn filepath.WalkFunc) error {
	_, r, err := t.stat(p)
	if err != nil {
		return walkFn(p, nil, err)
	}
	return fs.WalkDir(t.fsys, r, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return walkFn(virtual(name), nil, err)
		}
		info, err := d.Info()
		return walkFn(virtual(name), info, err)
	})
}

var errReadOnly = errors.New("the source tree is read-only during a build")

// Create implements filesys.FileSystem; builds never write.
func (t *tree) Create(string) (filesys.File, error) { return nil, errReadOnly }

// Mkdir implements filesys.FileSystem; builds never write.
func (t *tree) Mkdir(string) error { return errReadOnly }

// MkdirAll implements filesys.FileSystem; builds never write.
func (t *tree) MkdirAll(string) error { return errReadOnly }

// RemoveAll implements filesys.FileSystem; builds never write.
func (t *tree) RemoveAll(string) error { return errReadOnly }

// WriteFile implements filesys.FileSystem; builds never write.
func (t *tree) WriteFile(string, []byte) error { return errReadOnly }

type readOnlyFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *readOnlyFile) Write([]byte) (int, error)  { return 0, errReadOnly }
func (f *readOnlyFile) Close() error               { return nil }
func (f *readOnlyFile) Stat() (os.FileInfo, error) { return f.info, nil }

var _ io.ReadWriteCloser = (*readOnlyFile)(nil)

type overlayInfo struct {
	name string
	size int64
}

func (i overlayInfo) Name() string       { return i.name }
func (i overlayInfo) Size() int64        { return i.size }
func (i overlayInfo) Mode() fs.FileMode  { return 0o444 }
func (i overlayInfo) ModTime() time.Time { return time.Time{} }
func (i overlayInfo) IsDir() bool        { return false }
func (i overlayInfo) Sys() any           { return nil }
