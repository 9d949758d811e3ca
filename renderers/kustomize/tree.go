package kustomize

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/trustsync/trustsync/internal/confine"
	"github.com/trustsync/trustsync/manifest"
)

// treeRoot is where the source tree appears inside the build's virtual filesystem. It is
// not "/" so that a path climbing out of the tree stays visible as such.
const treeRoot = "/tree"

// errOutsideTree marks paths and links that leave the source tree.
var errOutsideTree = errors.New("outside the source tree")

// errLimit marks a bound the build exceeded.
var errLimit = errors.New("over a render limit")

// limitError is a bound the build exceeded; errors.Is(err, errLimit) finds it.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == errLimit }

// tree is a read-only kustomize filesystem over an fs.FS, confined to it, with an overlay
// of files the build adds (the kustomization with origin tracking turned on, the checked
// copies of plugin configurations). Every kustomization kustomize reads through it is
// checked first (kustomization.go), every YAML file is guarded (yamlguard.go), and every
// read counts against the build's limits.
type tree struct {
	fsys    fs.FS
	limits  Limits
	overlay map[string][]byte // tree-relative path → content

	// kustomizations are the checked kustomization files, by real path.
	kustomizations map[string]*checked
	// resolved are the paths resolved inside the tree so far, each an Lstat per element:
	// the tree does not change during a build, and an overlay file only ever stands at a
	// resolved path, so a resolution holds for the build. Failures are not kept: they
	// report themselves each time.
	resolved map[string]string
	// yamlFiles are the files kustomize parses as YAML; true for those that hold objects.
	yamlFiles map[string]bool
	// guarded remembers the documents of YAML files already guarded.
	guarded map[string]int
	// seen and bytes count the distinct paths visited and the bytes read.
	seen  map[string]bool
	bytes int64
	// objects counts the objects read by the revision and by the current kustomize run
	// (inKustomize is set during one).
	objects, runObjects int
	inKustomize         bool

	// exceeded is the first limit the build exceeded. It is sticky: kustomize and
	// the walks take a failed stat as "no such file", so a build past a limit could
	// otherwise go on with part of the tree.
	exceeded error

	// cache keeps runs for later builds; journal records kustomize's questions
	// during a run for it (nil outside one).
	cache   *Cache
	journal *journal

	mu         sync.Mutex
	violations []error
}

// checked is a kustomization and what checking it found.
type checked struct {
	doc *kustomizationDoc
	err error
}

var _ filesys.FileSystem = (*tree)(nil)

func newTree(fsys fs.FS, limits Limits) *tree {
	return &tree{
		fsys: fsys, limits: limits.withDefaults(), overlay: map[string][]byte{},
		kustomizations: map[string]*checked{}, resolved: map[string]string{}, yamlFiles: map[string]bool{}, guarded: map[string]int{},
		seen: map[string]bool{},
	}
}

// limitErr reports an exceeded bound; it is a violation, so the build reports it rather
// than kustomize's wrapping of it.
func (t *tree) limitErr(file, limit string, max any, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if file != "" {
		msg = file + ": " + msg
	}
	err := &limitError{msg: fmt.Sprintf("%s, over the bound %v (Platform %s)", msg, max, limit)}
	t.violation(err)
	if t.exceeded == nil {
		t.exceeded = err
	}
	return err
}

// tick refuses to go on past the deadline.
func (t *tree) tick() error {
	if !t.limits.Deadline.IsZero() && time.Now().After(t.limits.Deadline) {
		return t.limitErr("", "limits.renderTimeout", t.limits.Timeout, "the render took too long")
	}
	return nil
}

func (t *tree) yamlBounds() yamlBounds {
	return yamlBounds{depth: t.limits.YAMLDepth, nodes: t.limits.YAMLNodes}
}

// markYAML records a file kustomize will parse as YAML; objects says it holds objects
// (a resource), not a patch or a configuration.
func (t *tree) markYAML(file string, objects bool) {
	if r, err := t.resolve(file); err == nil {
		file = r
	}
	t.yamlFiles[file] = t.yamlFiles[file] || objects
}

// prepare replaces a kustomization's checked copy with data, derived from it by the
// build (origin tracking, the namespace) or generated; it is checked again when read.
func (t *tree) prepare(file string, data []byte) {
	t.setOverlay(file, data)
	dir, err := t.resolve(path.Dir(file))
	if err == nil {
		delete(t.kustomizations, path.Join(dir, path.Base(file)))
	}
}

// prepareChecked is prepare for a kustomization already checked: doc holds its content.
func (t *tree) prepareChecked(file string, doc *kustomizationDoc) {
	t.setOverlay(file, doc.data)
	dir, err := t.resolve(path.Dir(file))
	if err == nil {
		t.kustomizations[path.Join(dir, path.Base(file))] = &checked{doc: doc}
	}
}

func (t *tree) setOverlay(file string, data []byte) {
	if r, err := t.resolve(file); err == nil {
		file = r
	}
	t.overlay[file] = data
}

// guard checks one YAML file and counts its objects.
func (t *tree) guard(file string, data []byte) (int, error) {
	if n, ok := t.guarded[file]; ok {
		return n, nil
	}
	var key guardKey
	if t.cache != nil {
		key = guardKey{content: sha256.Sum256(data), bounds: t.yamlBounds()}
		if n, ok := t.cache.guarded.Get(key); ok {
			t.guarded[file] = n
			return n, nil
		}
	}
	facts, err := guardYAML(data, t.yamlBounds())
	if err != nil {
		var b *boundError
		if errors.As(err, &b) {
			return 0, t.limitErr(file, b.limit, b.max, "%s", b.what)
		}
		err = fmt.Errorf("%s: %w", file, err)
		t.violation(err)
		return 0, err
	}
	t.guarded[file] = facts.documents
	if t.cache != nil {
		t.cache.guarded.Put(key, facts.documents)
	}
	return facts.documents, nil
}

// countObjects adds the objects of a file read by the current kustomize run.
func (t *tree) countObjects(file string, n int) error {
	t.objects += n
	t.runObjects += n
	if t.objects > t.limits.Objects {
		return t.limitErr(file, "limits.objects", t.limits.Objects, "the revision has more than %d objects", t.limits.Objects)
	}
	if t.inKustomize && t.runObjects > t.limits.ObjectsPerBuild {
		return t.limitErr(file, "limits.objectsPerBuild", t.limits.ObjectsPerBuild,
			"one kustomize build has more than %d objects (kustomize's cost grows with their square; split the kustomization into directories)", t.limits.ObjectsPerBuild)
	}
	return nil
}

// read reads a file of the tree within the size bounds.
func (t *tree) read(r string, info fs.FileInfo) ([]byte, error) {
	if info.Size() > t.limits.FileBytes {
		return nil, t.limitErr(r, "limits.fileSize", quantity(t.limits.FileBytes), "the file is %s", quantity(info.Size()))
	}
	f, err := t.fsys.Open(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, t.limits.FileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > t.limits.FileBytes {
		return nil, t.limitErr(r, "limits.fileSize", quantity(t.limits.FileBytes), "the file is over %s", quantity(t.limits.FileBytes))
	}
	if !t.seen["read:"+r] {
		t.seen["read:"+r] = true
		t.bytes += int64(len(data))
		if t.bytes > t.limits.RevisionBytes {
			return nil, t.limitErr(r, "limits.revisionSize", quantity(t.limits.RevisionBytes), "the files read reach %s", quantity(t.bytes))
		}
	}
	return data, nil
}

// visit counts a distinct path of the tree.
func (t *tree) visit(r string) error {
	if t.seen[r] {
		return nil
	}
	t.seen[r] = true
	if n := len(t.seen); n > t.limits.Files {
		return t.limitErr(r, "limits.files", t.limits.Files, "the render visits more than %d files and directories", t.limits.Files)
	}
	return nil
}

// kustomization returns the checked copy of the kustomization file at p (virtual).
// Its references are relative to the real directory it is read from, as kustomize's.
func (t *tree) kustomization(p string) (*kustomizationDoc, error) {
	rel, err := t.rel(p)
	if err != nil {
		return nil, err
	}
	dir, err := t.resolve(path.Dir(rel))
	if err != nil {
		return nil, err
	}
	key := path.Join(dir, path.Base(rel))
	if c, ok := t.kustomizations[key]; ok {
		return c.doc, c.err
	}
	info, r, err := t.stat(virtual(key))
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%q is a directory", key)
	}
	data, ok := t.overlay[r]
	if !ok {
		if data, err = t.read(r, info); err != nil {
			return nil, err
		}
	}
	doc, err := t.checkKustomization(key, data)
	if err != nil {
		for _, e := range manifest.Errors(err) {
			t.violation(e)
		}
	}
	t.kustomizations[key] = &checked{doc: doc, err: err}
	return doc, err
}

// isKustomizationName reports a file name kustomize reads as a kustomization.
func isKustomizationName(name string) bool {
	return slices.Contains(konfig.RecognizedKustomizationFileNames(), name)
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

func (t *tree) violationCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.violations)
}

// keepViolations drops the violations recorded after the first n.
func (t *tree) keepViolations(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.violations) > n {
		t.violations = t.violations[:n]
	}
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
// the tree. A link that leads out of the tree is an error. A missing element is kept as
// it is, for the caller's lookup to fail.
func (t *tree) resolve(name string) (string, error) {
	if r, ok := t.resolved[name]; ok {
		return r, nil
	}
	r, err := confine.Resolve(treeLinks{t}, name, t.limits.SymlinkHops)
	if err == nil {
		t.resolved[name] = r
		return r, nil
	}
	var e *confine.Error
	switch {
	case errors.Is(err, confine.ErrTooManyLinks):
		return "", t.limitErr("", "limits.symlinkHops", t.limits.SymlinkHops, "%q follows more than %d symbolic links (a loop?)", name, t.limits.SymlinkHops)
	case !errors.As(err, &e):
		return "", err
	case e.Link != "":
		err = fmt.Errorf("symlink %q -> %q points %w", e.Link, e.Target, errOutsideTree)
	default:
		err = fmt.Errorf("path %q is %w", name, errOutsideTree)
	}
	t.violation(err)
	return "", err
}

// treeLinks is the tree as the symlink walker sees it: a file of the overlay is a plain
// file, whatever the source tree holds at its path.
type treeLinks struct{ t *tree }

func (l treeLinks) Open(name string) (fs.File, error) { return l.t.fsys.Open(name) }

func (l treeLinks) Lstat(name string) (fs.FileInfo, error) {
	if data, ok := l.t.overlay[name]; ok {
		return overlayInfo{name: path.Base(name), size: int64(len(data))}, nil
	}
	return fs.Lstat(l.t.fsys, name)
}

func (l treeLinks) ReadLink(name string) (string, error) { return fs.ReadLink(l.t.fsys, name) }

func (t *tree) real(p string) (string, error) {
	r, err := t.rel(p)
	if err != nil {
		return "", err
	}
	return t.resolve(r)
}

func (t *tree) stat(p string) (fs.FileInfo, string, error) {
	if t.exceeded != nil {
		return nil, "", t.exceeded
	}
	if err := t.tick(); err != nil {
		return nil, "", err
	}
	r, err := t.real(p)
	if err != nil {
		return nil, "", err
	}
	if data, ok := t.overlay[r]; ok {
		return overlayInfo{name: path.Base(r), size: int64(len(data))}, r, nil
	}
	info, err := fs.Stat(t.fsys, r)
	if err != nil {
		return nil, "", err
	}
	if !info.IsDir() && !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%q is not a regular file", r)
	}
	if err := t.visit(r); err != nil {
		return nil, "", err
	}
	return info, r, nil
}

func virtual(r string) string {
	if r == "." {
		return treeRoot
	}
	return treeRoot + "/" + r
}

// IsDir implements filesys.FileSystem.
func (t *tree) IsDir(p string) bool {
	v := t.isDir(p)
	if t.journal != nil {
		t.note(opIsDir, p, digest(strconv.FormatBool(v)))
	}
	return v
}

func (t *tree) isDir(p string) bool {
	info, _, err := t.stat(p)
	return err == nil && info.IsDir()
}

// Exists implements filesys.FileSystem.
func (t *tree) Exists(p string) bool {
	v := t.exists(p)
	if t.journal != nil {
		t.note(opExists, p, digest(strconv.FormatBool(v)))
	}
	return v
}

func (t *tree) exists(p string) bool {
	_, _, err := t.stat(p)
	return err == nil
}

// ReadFile implements filesys.FileSystem. A kustomization is served as its checked
// copy, a YAML file only once it passed the guard.
func (t *tree) ReadFile(p string) ([]byte, error) {
	data, err := t.readFile(p)
	if t.journal != nil {
		t.note(opReadFile, p, digest(string(data), errText(err)))
	}
	return data, err
}

func (t *tree) readFile(p string) ([]byte, error) {
	if isKustomizationName(path.Base(p)) {
		doc, err := t.kustomization(p)
		if err != nil {
			return nil, err
		}
		return slices.Clone(doc.data), nil
	}
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
	data, err := t.read(r, info)
	if err != nil {
		return nil, err
	}
	if objects, ok := t.yamlFiles[r]; ok {
		n, err := t.guard(r, data)
		if err != nil {
			return nil, err
		}
		if objects {
			if err := t.countObjects(r, n); err != nil {
				return nil, err
			}
		}
	}
	return data, nil
}

// ReadDir implements filesys.FileSystem.
func (t *tree) ReadDir(p string) ([]string, error) {
	names, err := t.readDir(p)
	if t.journal != nil {
		t.note(opReadDir, p, digest(append(slices.Clone(names), errText(err))...))
	}
	return names, err
}

func (t *tree) readDir(p string) ([]string, error) {
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
	dir, name, err := t.cleanedAbs(p)
	if t.journal != nil {
		t.note(opCleanedAbs, p, digest(string(dir), name, errText(err)))
	}
	return dir, name, err
}

func (t *tree) cleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
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
	info, data, err := t.open(p)
	if t.journal != nil {
		t.note(opOpen, p, openDigest(info, data, err))
	}
	if err != nil {
		return nil, err
	}
	return &readOnlyFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (t *tree) open(p string) (fs.FileInfo, []byte, error) {
	info, _, err := t.stat(p)
	if err != nil {
		return nil, nil, err
	}
	data, err := t.readFile(p)
	if err != nil {
		return nil, nil, err
	}
	return info, data, nil
}

// Glob implements filesys.FileSystem.
func (t *tree) Glob(pattern string) ([]string, error) {
	matches, err := t.glob(pattern)
	if t.journal != nil {
		t.note(opGlob, pattern, digest(append(slices.Clone(matches), errText(err))...))
	}
	return matches, err
}

func (t *tree) glob(pattern string) ([]string, error) {
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

// Walk implements filesys.FileSystem. A walk that walkFn cut short is journaled as
// such: its replay, which walks everything, differs, and the run is not reused.
func (t *tree) Walk(p string, walkFn filepath.WalkFunc) error {
	var parts []string
	err := t.walk(p, func(name string, info fs.FileInfo, err error) error {
		parts = append(parts, walkStep(name, info, err))
		return walkFn(name, info, err)
	})
	if t.journal != nil {
		t.note(opWalk, p, digest(append(parts, errText(err))...))
	}
	return err
}

func (t *tree) walk(p string, walkFn filepath.WalkFunc) error {
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
