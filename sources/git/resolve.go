package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// A revision, as trustsync takes it, names one commit: a branch, a tag, a full or
// abbreviated commit SHA, or HEAD, optionally followed by ancestry steps (~, ~N, ^, ^N,
// ^{commit}). Everything else git's rev-parse accepts is refused, not approximated:
// go-git's ResolveRevision silently drops what it does not implement, so HEAD:path or
// HEAD^{blob} would name HEAD.

// maxAncestry bounds one ~N or ^N step.
const maxAncestry = 1 << 20

// revision is a checked revision: its base name and its ancestry steps.
type revision struct {
	base  string
	steps []step
}

// step is ~N (first parent, N times) or ^N (the N-th parent; ^0 is the commit itself).
type step struct {
	tilde bool
	n     int
}

var (
	// ancestryStep matches one step at the start of the rest of a revision.
	ancestryStep = regexp.MustCompile(`^(?:~([0-9]*)|\^\{(commit)?\}|\^([0-9]*))`)
	// peelSuffix is ^{type}.
	peelSuffix = regexp.MustCompile(`\^\{([^}]*)\}`)
)

// CheckRevision says whether rev names a commit in a form trustsync resolves strictly;
// the error says what rev names instead (a path, a tree, a blob, a range, a reflog
// entry) or what is malformed. It does not look at any repository.
func CheckRevision(rev string) error {
	_, err := parseRevision(rev)
	return err
}

func parseRevision(rev string) (revision, error) {
	var r revision
	switch {
	case rev == "":
		return r, errors.New("no revision given")
	case strings.Contains(rev, ":"):
		return r, errors.New("REV:path names a file or a tree, not a commit; give the commit alone")
	case strings.Contains(rev, ".."):
		return r, errors.New("a range (A..B) is not one commit")
	case strings.Contains(rev, "@{"):
		return r, errors.New("reflog and upstream forms (@{...}) are not supported; name the branch, tag or commit")
	case strings.Contains(rev, "^{/"):
		return r, errors.New("commit message search (^{/text}) is not supported; name the commit")
	case strings.Contains(rev, "^{"):
		if m := peelSuffix.FindStringSubmatch(rev); m != nil && m[1] != "" && m[1] != "commit" {
			return r, fmt.Errorf("^{%s} names a %s, not a commit", m[1], objectWord(m[1]))
		}
	}
	i := strings.IndexAny(rev, "~^")
	if i < 0 {
		i = len(rev)
	}
	r.base = rev[:i]
	if r.base != "HEAD" && !validRefName(r.base) {
		return r, fmt.Errorf("%q is not a valid branch, tag or commit name", r.base)
	}
	for rest := rev[i:]; rest != ""; {
		m := ancestryStep.FindStringSubmatchIndex(rest)
		if m == nil {
			return r, fmt.Errorf("%q: only ~N, ^N and ^{commit} may follow a branch, tag or commit", rest)
		}
		s := step{n: 1}
		switch {
		case rest[0] == '~':
			s.tilde = true
			if m[3] > m[2] {
				s.n, _ = strconv.Atoi(rest[m[2]:m[3]])
			}
		case m[4] >= 0 || strings.HasPrefix(rest, "^{}"):
			s.n = 0 // ^{commit} and ^{}: peel to the commit, which it already is
		case m[7] > m[6]:
			s.n, _ = strconv.Atoi(rest[m[6]:m[7]])
		}
		if s.n < 0 || s.n > maxAncestry || (m[3]-m[2] > 7) || (m[7]-m[6] > 7) {
			return r, fmt.Errorf("%q: ancestry step over %d", rest[:m[1]], maxAncestry)
		}
		r.steps = append(r.steps, s)
		rest = rest[m[1]:]
	}
	return r, nil
}

func objectWord(t string) string {
	switch t {
	case "tree", "blob", "tag":
		return t
	}
	return "object of type " + strconv.Quote(t)
}

// resolveRevision resolves rev in repo to a commit, strictly (see CheckRevision).
func resolveRevision(repo *gogit.Repository, rev string) (plumbing.Hash, error) {
	r, err := parseRevision(rev)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := resolveBase(repo, r.base)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	c, err := repo.CommitObject(h)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", h, err)
	}
	for _, s := range r.steps {
		if c, err = ancestor(repo, c, s); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return c.Hash, nil
}

// resolveBase finds the commit a name stands for: a full SHA, else a ref (HEAD, a
// branch, a tag, refs/...), else an abbreviated SHA of at least 4 digits, as git does.
// A name that is both a branch and a tag of different commits is ambiguous.
func resolveBase(repo *gogit.Repository, name string) (plumbing.Hash, error) {
	if len(name) == 40 && isHex(name) {
		return peelToCommit(repo, plumbing.NewHash(name), name)
	}
	var found []*plumbing.Reference
	for _, rule := range plumbing.RefRevParseRules {
		ref, err := storer.ResolveReference(repo.Storer, plumbing.ReferenceName(fmt.Sprintf(rule, name)))
		if err == nil {
			found = append(found, ref)
		}
	}
	if len(found) > 0 {
		h, err := peelToCommit(repo, found[0].Hash(), found[0].Name().String())
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, other := range found[1:] {
			if oh, err := peelToCommit(repo, other.Hash(), other.Name().String()); err == nil && oh != h {
				return plumbing.ZeroHash, fmt.Errorf("ambiguous: %s and %s are different commits; name one in full", found[0].Name(), other.Name())
			}
		}
		return h, nil
	}
	if len(name) >= 4 && len(name) < 40 && isHex(name) {
		return abbreviated(repo, name)
	}
	return plumbing.ZeroHash, fmt.Errorf("%w: no branch, tag or commit %q", ErrNotFound, name)
}

// peelToCommit follows annotated tags to a commit; a tree or blob is refused.
func peelToCommit(repo *gogit.Repository, h plumbing.Hash, name string) (plumbing.Hash, error) {
	for range 10 {
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, fmt.Errorf("%w: %s is not in the repository", ErrNotFound, name)
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(repo.Storer, obj)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", name, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: tag chain too long", name)
}

// abbreviated finds the one commit whose SHA starts with prefix.
func abbreviated(repo *gogit.Repository, prefix string) (plumbing.Hash, error) {
	iter, err := repo.CommitObjects()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var matches []string
	err = iter.ForEach(func(c *object.Commit) error {
		if strings.HasPrefix(c.Hash.String(), prefix) {
			matches = append(matches, c.Hash.String())
		}
		return nil
	})
	switch {
	case err != nil:
		return plumbing.ZeroHash, err
	case len(matches) == 0:
		return plumbing.ZeroHash, fmt.Errorf("%w: no branch, tag or commit %q", ErrNotFound, prefix)
	case len(matches) > 1:
		sort.Strings(matches)
		return plumbing.ZeroHash, fmt.Errorf("ambiguous: %q is the start of %d commits (%s, %s, ...); give more digits", prefix, len(matches), matches[0][:12], matches[1][:12])
	}
	return plumbing.NewHash(matches[0]), nil
}

func ancestor(repo *gogit.Repository, c *object.Commit, s step) (*object.Commit, error) {
	if !s.tilde {
		if s.n == 0 {
			return c, nil
		}
		if s.n > len(c.ParentHashes) {
			return nil, fmt.Errorf("%w: commit %s has %d parents, not %d", ErrNotFound, c.Hash.String()[:12], len(c.ParentHashes), s.n)
		}
		return parent(repo, c, s.n-1)
	}
	for range s.n {
		if len(c.ParentHashes) == 0 {
			return nil, fmt.Errorf("%w: the history ends at commit %s", ErrNotFound, c.Hash.String()[:12])
		}
		var err error
		if c, err = parent(repo, c, 0); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parent(repo *gogit.Repository, c *object.Commit, i int) (*object.Commit, error) {
	p, err := repo.CommitObject(c.ParentHashes[i])
	if err != nil {
		// A shallow fetch has the commit but not its history.
		return nil, fmt.Errorf("%w: the parent of commit %s is not in the repository (fetched shallow?)", ErrNotFound, c.Hash.String()[:12])
	}
	return p, nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// LocalRevisions reads revisions of a local repository (a work tree or a bare
// repository) with OpenRevision. It is what `trustsync diff` and `trustsync preview`
// read a local repository with.
type LocalRevisions string

// Tree implements preview.Trees.
func (r LocalRevisions) Tree(_ context.Context, rev string) (fs.FS, string, error) {
	return OpenRevision(string(r), rev)
}

// RemoteRevisions fetches revisions of a remote repository into Fetcher's cache and
// reads them from there. A revision is a branch, a tag or a commit SHA (7 to 40 hex
// digits); refs/heads/ and refs/tags/ say which, any other name is tried as a branch,
// then as a tag. Ancestry steps need history a fetch does not bring, so they are
// refused. It is what `trustsync diff --repo` and the engine's pull-request previews
// read with.
type RemoteRevisions struct {
	Fetcher *Fetcher
	URL     string
	Auth    *Auth
}

// Tree implements preview.Trees.
func (r RemoteRevisions) Tree(ctx context.Context, rev string) (fs.FS, string, error) {
	commit, err := r.Fetch(ctx, rev)
	if err != nil {
		return nil, "", err
	}
	dir, err := r.Fetcher.RepoDir(r.URL)
	if err != nil {
		return nil, "", err
	}
	return OpenRevision(dir, commit)
}

// Fetch fetches rev and returns its commit SHA.
func (r RemoteRevisions) Fetch(ctx context.Context, rev string) (string, error) {
	parsed, err := parseRevision(rev)
	switch {
	case err != nil:
		return "", &RevisionError{Repo: stripUserinfo(r.URL), Rev: rev, Err: err}
	case len(parsed.steps) > 0 || parsed.base == "HEAD":
		return "", &RevisionError{Repo: stripUserinfo(r.URL), Rev: rev, Err: errors.New("a remote revision is a branch, tag or commit (ancestry and HEAD need a local repository)")}
	}
	var refs []Ref
	switch {
	case hexCommit.MatchString(rev):
		refs = []Ref{{Commit: rev}}
	case strings.HasPrefix(rev, "refs/heads/"):
		refs = []Ref{{Branch: strings.TrimPrefix(rev, "refs/heads/")}}
	case strings.HasPrefix(rev, "refs/tags/"):
		refs = []Ref{{Tag: strings.TrimPrefix(rev, "refs/tags/")}}
	default:
		refs = []Ref{{Branch: rev}, {Tag: rev}}
	}
	for _, ref := range refs {
		var a *Artifact
		if a, err = r.Fetcher.Fetch(ctx, Request{URL: r.URL, Ref: ref, Auth: r.Auth}); err == nil {
			return a.Commit, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	if len(refs) > 1 {
		return "", fmt.Errorf("%q is neither a branch nor a tag of %s: %w", rev, stripUserinfo(r.URL), err)
	}
	return "", err
}
