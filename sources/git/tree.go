package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	tmpPrefix    = ".tmp-"
	digestSuffix = ".digest"
)

// checkout returns the tree of commit, writing it first unless a previous fetch did.
func (c *cache) checkout(ctx context.Context, commit plumbing.Hash) (dir, digest string, err error) {
	dir = filepath.Join(c.treesDir(), commit.String())
	if _, err := os.Lstat(dir); err == nil {
		digest, err := c.storedDigest(ctx, commit)
		if err != nil {
			return "", "", err
		}
		// The mtime orders trees for pruning: a reused tree counts as recent.
		now := time.Now()
		if err := os.Chtimes(dir, now, now); err != nil {
			return "", "", fmt.Errorf("cache: %w", err)
		}
		return dir, digest, nil
	}
	c.removeStaleTemps()

	tmp, err := os.MkdirTemp(c.treesDir(), tmpPrefix+commit.String()+"-")
	if err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	digest, err = c.writeTree(ctx, commit, tmp)
	if err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(dir+digestSuffix, []byte(digest+"\n")); err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	// The rename publishes the tree whole: a reader never sees it half written.
	if err := os.Rename(tmp, dir); err != nil {
		return "", "", fmt.Errorf("cache: publish tree: %w", err)
	}
	return dir, digest, nil
}

// storedDigest reads the digest written beside a tree, recomputing it if missing.
func (c *cache) storedDigest(ctx context.Context, commit plumbing.Hash) (string, error) {
	p := filepath.Join(c.treesDir(), commit.String()+digestSuffix)
	if b, err := os.ReadFile(p); err == nil {
		if d := strings.TrimSpace(string(b)); strings.HasPrefix(d, "sha256:") && len(d) == len("sha256:")+64 {
			return d, nil
		}
	}
	d, err := c.writeTree(ctx, commit, "")
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(p, []byte(d+"\n")); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	return d, nil
}

// treeEntry is one file of a commit's tree.
type treeEntry struct {
	path string
	mode filemode.FileMode
	blob plumbing.Hash
}

// writeTree checks the commit's files out into dir (none when dir is empty) and returns
// the tree digest: sha256 over, in path order, each path, mode, size and content
// (symlinks by their target). Submodules are not part of the tree.
func (c *cache) writeTree(ctx context.Context, commit plumbing.Hash, dir string) (string, error) {
	co, err := c.repo.CommitObject(commit)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", commit, err)
	}
	tree, err := co.Tree()
	if err != nil {
		return "", fmt.Errorf("commit %s: tree: %w", commit, err)
	}
	entries, err := listFiles(tree)
	if err != nil {
		return "", err
	}

	h := sha256.New()
	symlinks := map[string]bool{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		blob, err := c.repo.BlobObject(e.blob)
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.path, err)
		}
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", e.path, e.mode, blob.Size)
		r, err := blob.Reader()
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.path, err)
		}
		err = writeEntry(dir, e, io.TeeReader(r, h), symlinks)
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// listFiles returns the tree's files sorted by path, refusing paths that could escape a
// checkout (crafted trees can hold "..", duplicates, or a file below a symlink).
func listFiles(tree *object.Tree) ([]treeEntry, error) {
	var entries []treeEntry
	err := tree.Files().ForEach(func(f *object.File) error {
		if err := checkPath(f.Name); err != nil {
			return err
		}
		mode := f.Mode
		if mode == filemode.Deprecated {
			mode = filemode.Regular
		}
		entries = append(entries, treeEntry{path: f.Name, mode: mode, blob: f.Blob.Hash})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading tree: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	for i := 1; i < len(entries); i++ {
		if entries[i].path == entries[i-1].path {
			return nil, fmt.Errorf("%s: duplicate path in tree", entries[i].path)
		}
	}
	return entries, nil
}

func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || strings.Contains(p, `\`) {
		return fmt.Errorf("%q: unsafe path in tree", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return fmt.Errorf("%q: unsafe path in tree", p)
		}
	}
	return nil
}

// writeEntry writes one file (or symlink) below dir; with dir empty it only drains r
// for the digest.
func writeEntry(dir string, e treeEntry, r io.Reader, symlinks map[string]bool) error {
	if dir == "" {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	for parent := path.Dir(e.path); parent != "."; parent = path.Dir(parent) {
		if symlinks[parent] {
			return fmt.Errorf("%s: path below the symlink %s", e.path, parent)
		}
	}
	target := filepath.Join(dir, filepath.FromSlash(e.path))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	switch e.mode {
	case filemode.Symlink:
		link, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
		// Written as is; whether it may be followed is the renderer's call.
		if err := os.Symlink(string(link), target); err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
		symlinks[e.path] = true
		return nil
	case filemode.Regular, filemode.Executable:
		perm := os.FileMode(0o644)
		if e.mode == filemode.Executable {
			perm = 0o755
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
		return nil
	default:
		return fmt.Errorf("%s: unsupported file mode %s", e.path, e.mode)
	}
}

func writeFileAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"file-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// removeStaleTemps clears temp dirs a crashed fetch left; fetches of one repository are
// serialised, so none is in use.
func (c *cache) removeStaleTemps() {
	names, _ := filepath.Glob(filepath.Join(c.treesDir(), tmpPrefix+"*"))
	for _, n := range names {
		_ = os.RemoveAll(n)
	}
}

// prune keeps the newest keep trees (by mtime) and always the one named current.
func (c *cache) prune(keep int, current string) error {
	ents, err := os.ReadDir(c.treesDir())
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	type tree struct {
		name string
		mod  time.Time
	}
	var trees []tree
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) || e.Name() == current {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		trees = append(trees, tree{e.Name(), info.ModTime()})
	}
	sort.Slice(trees, func(i, j int) bool {
		if !trees[i].mod.Equal(trees[j].mod) {
			return trees[i].mod.After(trees[j].mod)
		}
		return trees[i].name > trees[j].name
	})
	// current takes one of the keep slots.
	for i, t := range trees {
		if i < keep-1 {
			continue
		}
		if err := os.RemoveAll(filepath.Join(c.treesDir(), t.name)); err != nil {
			return fmt.Errorf("cache: prune: %w", err)
		}
		if err := os.Remove(filepath.Join(c.treesDir(), t.name+digestSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cache: prune: %w", err)
		}
	}
	return nil
}
