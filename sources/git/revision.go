package git

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"testing/fstest"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/trustsync/trustsync/internal/confine"
)

// RevisionError is a revision that cannot be opened. Its text names the repository
// directory and the revision as given.
type RevisionError struct {
	Repo, Rev string
	Err       error
}

func (e *RevisionError) Error() string {
	if e.Rev == "" {
		return fmt.Sprintf("git %s: %v", e.Repo, e.Err)
	}
	return fmt.Sprintf("git %s revision %q: %v", e.Repo, e.Rev, e.Err)
}

func (e *RevisionError) Unwrap() error { return e.Err }

// OpenRevision reads revision rev (a branch, a tag, a full or abbreviated SHA, HEAD, each
// optionally with ancestry such as ~1 or ^2; see CheckRevision) of the local repository
// at repoDir into memory, without touching its work tree, and
// returns the files as a read-only fs.FS with the full commit SHA. repoDir is a bare
// repository, a work tree, or any directory inside one.
//
// The tree obeys the rules of a checkout: paths that could escape it ("..", ".git",
// absolute, duplicates, files below a symlink) are refused, and so is a symlink whose
// target, followed through the tree's other links, leaves the tree. Symlinks inside the
// tree stay symlinks (fs.ReadLink, fs.Lstat), for the renderer to follow.
func OpenRevision(repoDir, rev string) (fs.FS, string, error) {
	fail := func(err error) (fs.FS, string, error) {
		return nil, "", &RevisionError{Repo: repoDir, Rev: rev, Err: err}
	}
	repo, err := openLocal(repoDir)
	if err != nil {
		return fail(err)
	}
	if rev == "" {
		return fail(errors.New("no revision given"))
	}
	h, err := resolveRevision(repo, rev)
	if err != nil {
		return fail(err)
	}
	commit, err := repo.CommitObject(h)
	if err != nil {
		return fail(fmt.Errorf("%s is not a commit: %w", h, err))
	}
	tree, err := commit.Tree()
	if err != nil {
		return fail(fmt.Errorf("commit %s: tree: %w", h, err))
	}
	entries, err := listFiles(tree)
	if err != nil {
		return fail(err)
	}
	m := fstest.MapFS{}
	for _, e := range entries {
		f, err := readEntry(repo, e)
		if err != nil {
			return fail(err)
		}
		m[e.path] = f
	}
	if err := checkLinks(m); err != nil {
		return fail(err)
	}
	return revisionFS{m}, h.String(), nil
}

// openLocal opens a bare repository or work tree at dir, else the work tree dir is in.
// The exact directory is tried first: detection walks up and would take an enclosing
// work tree for a bare repository nested in it.
func openLocal(dir string) (*gogit.Repository, error) {
	repo, err := gogit.PlainOpen(dir)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		repo, err = gogit.PlainOpenWithOptions(dir, &gogit.PlainOpenOptions{DetectDotGit: true})
	}
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		return nil, errors.New("not a Git repository")
	}
	return repo, err
}

func readEntry(repo *gogit.Repository, e treeEntry) (*fstest.MapFile, error) {
	blob, err := repo.BlobObject(e.blob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.path, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.path, err)
	}
	switch e.mode {
	case filemode.Symlink:
		return &fstest.MapFile{Data: data, Mode: fs.ModeSymlink | 0o777}, nil
	case filemode.Regular:
		return &fstest.MapFile{Data: data, Mode: 0o444}, nil
	case filemode.Executable:
		return &fstest.MapFile{Data: data, Mode: 0o555}, nil
	}
	return nil, fmt.Errorf("%s: unsupported file mode %s", e.path, e.mode)
}

// checkLinks refuses files below a symlink (as a checkout does) and symlinks that lead
// out of the tree.
func checkLinks(m fstest.MapFS) error {
	for p := range m {
		for parent := path.Dir(p); parent != "."; parent = path.Dir(parent) {
			if f, ok := m[parent]; ok && f.Mode&fs.ModeSymlink != 0 {
				return fmt.Errorf("%s: path below the symlink %s", p, parent)
			}
		}
	}
	for p, f := range m {
		if f.Mode&fs.ModeSymlink == 0 {
			continue
		}
		if err := resolveInside(m, p); err != nil {
			return err
		}
	}
	return nil
}

// maxLinkHops bounds symlink resolution, like the kernel's ELOOP.
const maxLinkHops = 40

// resolveInside fails when the symlink at link, followed through the tree, leaves it.
func resolveInside(m fstest.MapFS, link string) error {
	_, err := confine.Resolve(mapLinks(m), link, maxLinkHops)
	switch {
	case errors.Is(err, confine.ErrOutside):
		return fmt.Errorf("symlink %s -> %q points %w", link, string(m[link].Data), confine.ErrOutside)
	case errors.Is(err, confine.ErrTooManyLinks):
		return fmt.Errorf("symlink %s: %w", link, confine.ErrTooManyLinks)
	case err != nil:
		return fmt.Errorf("symlink %s: %w", link, err)
	}
	return nil
}

// mapLinks shows the symlink walker the map's own entries. MapFS.Lstat would find a
// directory by scanning every entry; the walker only asks which entries are links, and
// takes a directory, which is no entry, as it is.
type mapLinks fstest.MapFS

func (l mapLinks) Open(name string) (fs.File, error) { return fstest.MapFS(l).Open(name) }

func (l mapLinks) Lstat(name string) (fs.FileInfo, error) {
	if _, ok := l[name]; !ok {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return fstest.MapFS(l).Lstat(name)
}

func (l mapLinks) ReadLink(name string) (string, error) { return fstest.MapFS(l).ReadLink(name) }

// revisionFS is the tree of a revision. It resolves symlinks itself, with the same
// rules as the check above (MapFS joins link targets lexically), and hides the map, so
// the tree cannot be changed through a type assertion.
type revisionFS struct{ m fstest.MapFS }

var (
	_ fs.ReadFileFS = revisionFS{}
	_ fs.ReadDirFS  = revisionFS{}
	_ fs.StatFS     = revisionFS{}
	_ fs.ReadLinkFS = revisionFS{}
)

// real resolves every element of name; with parentOnly, all but the last.
func (r revisionFS) real(op, name string, parentOnly bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if parentOnly {
		if name == "." {
			return ".", nil
		}
		dir, err := r.real(op, path.Dir(name), false)
		return path.Join(dir, path.Base(name)), err
	}
	p, err := confine.Resolve(mapLinks(r.m), name, maxLinkHops)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return p, nil
}

func (r revisionFS) Open(name string) (fs.File, error) {
	p, err := r.real("open", name, false)
	if err != nil {
		return nil, err
	}
	return r.m.Open(p)
}

func (r revisionFS) ReadFile(name string) ([]byte, error) {
	p, err := r.real("open", name, false)
	if err != nil {
		return nil, err
	}
	return r.m.ReadFile(p)
}

func (r revisionFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := r.real("readdir", name, false)
	if err != nil {
		return nil, err
	}
	return r.m.ReadDir(p)
}

func (r revisionFS) Stat(name string) (fs.FileInfo, error) {
	p, err := r.real("stat", name, false)
	if err != nil {
		return nil, err
	}
	return r.m.Stat(p)
}

func (r revisionFS) Lstat(name string) (fs.FileInfo, error) {
	p, err := r.real("lstat", name, true)
	if err != nil {
		return nil, err
	}
	return r.m.Lstat(p)
}

func (r revisionFS) ReadLink(name string) (string, error) {
	p, err := r.real("readlink", name, true)
	if err != nil {
		return "", err
	}
	return r.m.ReadLink(p)
}

// RepoDir is the cache's bare repository of url, which OpenRevision reads: it holds
// every commit a Fetch of url into this Fetcher's CacheDir returned (Artifact.Commit).
// It does not fetch.
func (f *Fetcher) RepoDir(url string) (string, error) {
	ep, err := parseEndpoint(url)
	if err != nil {
		return "", &Error{URL: stripUserinfo(url), msg: errorText(nil, err), err: err}
	}
	if f.CacheDir == "" {
		return "", &Error{URL: ep.display, msg: "fetcher has no cache directory"}
	}
	c := &cache{dir: filepath.Join(f.CacheDir, ep.cacheKey())}
	return c.repoDir(), nil
}
