package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/trustsync/trustsync/internal/redact"
)

// DefaultKeepTrees is how many checked-out trees a repository keeps when
// Fetcher.KeepTrees is not set.
const DefaultKeepTrees = 3

// DefaultSSHTimeout bounds the SSH handshake when the context has no deadline.
const DefaultSSHTimeout = 30 * time.Second

// unshallowDepth is what git sends for --unshallow: deepen to the full history.
const unshallowDepth = 2147483647

// Ref selects a revision: at most one field is set; none means branch main.
type Ref struct {
	Branch, Tag, SemVer, Commit string
}

// Request is one fetch.
type Request struct {
	URL  string
	Ref  Ref
	Auth *Auth // nil: anonymous (not allowed for ssh URLs)
}

// Artifact is one fetched revision, checked out.
type Artifact struct {
	// URL of the repository, without userinfo.
	URL string
	// Revision in Flux style: main@sha1:<hex>, v1.2.0@sha1:<hex>, or sha1:<hex> for a
	// requested commit.
	Revision string
	// Commit is the full hex SHA.
	Commit string
	// Dir is the checked-out file tree: read-only by convention, unique per commit.
	// Symlinks are checked out as symlinks. It stays until KeepTrees trees of the
	// repository have been returned after it.
	Dir string
	// Digest is sha256:<hex> over the tree's sorted paths with mode and content.
	Digest    string
	FetchedAt time.Time
}

// Fetcher fetches revisions into CacheDir. It is safe for concurrent use; fetches of one
// repository are serialised. Use one Fetcher per CacheDir, and do not copy it after
// first use.
type Fetcher struct {
	// CacheDir holds one directory per repository. Required.
	CacheDir string
	// KeepTrees is how many checked-out trees a repository keeps; default
	// DefaultKeepTrees. The tree just returned is always kept.
	KeepTrees int

	mu    sync.Mutex
	locks map[string]chan struct{}
}

// Error is a failed fetch. Its text names the repository (without userinfo) and the ref,
// and never contains credentials. errors.Is sees through it (ErrNotFound, context
// errors, go-git transport errors) but it does not unwrap, so the raw text of the cause
// stays hidden.
type Error struct {
	URL string // without userinfo
	Ref string // e.g. branch "main"
	msg string // redacted
	err error
}

func (e *Error) Error() string {
	if e.Ref == "" {
		return fmt.Sprintf("git %s: %s", e.URL, e.msg)
	}
	return fmt.Sprintf("git %s %s: %s", e.URL, e.Ref, e.msg)
}

func (e *Error) Is(target error) bool { return errors.Is(e.err, target) }

// maxErrorText bounds the text of an Error: go-git quotes a host's whole answer, and a
// condition, an event or a log line must stay readable.
const maxErrorText = 1024

// errorText is err's text made fit for an Error: redacted, on one line, bounded.
func errorText(rd *redact.Redactor, err error) string {
	s, cut := rd.Line(err.Error(), maxErrorText)
	if cut {
		s += " …"
	}
	return s
}

// ErrNotFound is matched by errors for a branch, tag, semver match or commit that does
// not exist.
var ErrNotFound = errors.New("not found")

// Fetch fetches the requested revision and returns it checked out.
func (f *Fetcher) Fetch(ctx context.Context, r Request) (*Artifact, error) {
	rd := r.Auth.Redactor()
	ep, err := parseEndpoint(r.URL)
	if err != nil {
		return nil, &Error{URL: rd.String(r.URL), msg: errorText(rd, err), err: err}
	}
	ref, err := r.Ref.describe()
	fail := func(err error) error {
		// Hosts quote requests back (an Authorization header, a URL with a token) and
		// go-git quotes hosts: everything is redacted, in every encoding.
		return &Error{URL: ep.display, Ref: rd.String(ref), msg: errorText(rd, err), err: err}
	}
	if err != nil {
		return nil, fail(err)
	}
	if f.CacheDir == "" {
		return nil, fail(errors.New("fetcher has no cache directory"))
	}
	if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
		return nil, fail(fmt.Errorf("cache: %w", err))
	}

	unlock, err := f.lock(ctx, ep.key)
	if err != nil {
		return nil, fail(err)
	}
	defer unlock()

	sshTimeout := DefaultSSHTimeout
	if dl, ok := ctx.Deadline(); ok {
		sshTimeout = time.Until(dl)
	}
	auth, err := r.Auth.method(ep, sshTimeout, f.CacheDir)
	if err != nil {
		return nil, fail(err)
	}

	c := &cache{dir: filepath.Join(f.CacheDir, ep.cacheKey()), ep: ep, auth: auth}
	if err := c.open(); err != nil {
		return nil, fail(err)
	}
	var name string
	var commit plumbing.Hash
	switch {
	case r.Ref.Tag != "":
		name = r.Ref.Tag
		commit, err = c.fetchRef(ctx, plumbing.NewTagReferenceName(r.Ref.Tag))
	case r.Ref.SemVer != "":
		name, err = c.latestTag(ctx, r.Ref.SemVer)
		if err == nil {
			commit, err = c.fetchRef(ctx, plumbing.NewTagReferenceName(name))
		}
	case r.Ref.Commit != "":
		commit, err = c.fetchCommit(ctx, r.Ref.Commit)
	default:
		name = r.Ref.branch()
		commit, err = c.fetchRef(ctx, plumbing.NewBranchReferenceName(name))
	}
	if err != nil {
		return nil, fail(err)
	}

	dir, digest, err := c.checkout(ctx, commit)
	if err != nil {
		return nil, fail(err)
	}
	keep := f.KeepTrees
	if keep <= 0 {
		keep = DefaultKeepTrees
	}
	if err := c.prune(keep, commit.String()); err != nil {
		return nil, fail(err)
	}

	revision := "sha1:" + commit.String()
	if name != "" {
		revision = name + "@" + revision
	}
	return &Artifact{
		URL:       ep.display,
		Revision:  revision,
		Commit:    commit.String(),
		Dir:       dir,
		Digest:    digest,
		FetchedAt: time.Now(),
	}, nil
}

// lock serialises fetches of one repository; waiting respects ctx.
func (f *Fetcher) lock(ctx context.Context, key string) (func(), error) {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[string]chan struct{}{}
	}
	ch, ok := f.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		f.locks[key] = ch
	}
	f.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another fetch of this repository: %w", ctx.Err())
	}
}

var hexCommit = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// describe names the ref for messages and checks that at most one field is set.
func (r Ref) describe() (string, error) {
	var set []string
	if r.Branch != "" {
		set = append(set, fmt.Sprintf("branch %q", r.Branch))
	}
	if r.Tag != "" {
		set = append(set, fmt.Sprintf("tag %q", r.Tag))
	}
	if r.SemVer != "" {
		set = append(set, fmt.Sprintf("semver %q", r.SemVer))
	}
	if r.Commit != "" {
		set = append(set, fmt.Sprintf("commit %q", r.Commit))
	}
	switch {
	case len(set) == 0:
		return fmt.Sprintf("branch %q", r.branch()), nil
	case len(set) > 1:
		return strings.Join(set, ", "), errors.New("set at most one of branch, tag, semver and commit")
	}
	for _, name := range []string{r.Branch, r.Tag} {
		if name != "" && !validRefName(name) {
			return set[0], errors.New("not a valid ref name")
		}
	}
	if r.Commit != "" && !hexCommit.MatchString(r.Commit) {
		return set[0], errors.New("commit must be 7 to 64 lower-case hex digits")
	}
	return set[0], nil
}

// validRefName follows git check-ref-format closely enough to keep odd names out of
// refspecs.
func validRefName(name string) bool {
	if name == "" || name == "@" || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") ||
		strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock") ||
		strings.Contains(name, "..") || strings.Contains(name, "//") || strings.Contains(name, "@{") ||
		strings.ContainsAny(name, " ~^:?*[\\") {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

func (r Ref) branch() string {
	if r.Branch == "" {
		return "main"
	}
	return r.Branch
}

// cache is the on-disk state of one repository, used under its lock.
type cache struct {
	dir  string
	ep   *endpoint
	auth transport.AuthMethod
	repo *gogit.Repository
}

func (c *cache) repoDir() string  { return filepath.Join(c.dir, "repo") }
func (c *cache) treesDir() string { return filepath.Join(c.dir, "trees") }

// open opens the bare repository, creating it when missing or unreadable (e.g. left
// half-initialised by a crash).
func (c *cache) open() error {
	if err := os.MkdirAll(c.treesDir(), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	repo, err := gogit.PlainOpen(c.repoDir())
	if err == nil {
		c.repo = repo
		return nil
	}
	if err := os.RemoveAll(c.repoDir()); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if repo, err = gogit.PlainInit(c.repoDir(), true); err != nil {
		return fmt.Errorf("cache: init repository: %w", err)
	}
	c.repo = repo
	return nil
}

func (c *cache) remote() *gogit.Remote {
	// Not saved in the repository's config: the URL is per request.
	return gogit.NewRemote(c.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{c.ep.raw}})
}

// fetchRef fetches one branch or tag shallowly into the same ref name and returns the
// commit it points at.
func (c *cache) fetchRef(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error) {
	spec := config.RefSpec("+" + name.String() + ":" + name.String())
	err := c.remote().FetchContext(ctx, &gogit.FetchOptions{
		RefSpecs: []config.RefSpec{spec},
		Depth:    1,
		Auth:     c.auth,
		Tags:     gogit.NoTags,
		Force:    true,
	})
	switch {
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, gogit.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, fmt.Errorf("%w in the remote repository", ErrNotFound)
	case err != nil:
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	ref, err := c.repo.Reference(name, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetched ref is missing from the cache: %w", err)
	}
	return c.peel(ref.Hash())
}

// peel resolves an annotated tag to its commit.
func (c *cache) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		tag, err := c.repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			if _, err := c.repo.CommitObject(h); err != nil {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a commit: %w", h, err)
			}
			return h, nil
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, fmt.Errorf("tag chain at %s is too long", h)
}

// latestTag lists the remote's tags and returns the highest one satisfying constraint.
// Tags that are not semantic versions (a leading v allowed) are ignored.
func (c *cache) latestTag(ctx context.Context, constraint string) (string, error) {
	cons, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("invalid semver constraint: %v", err)
	}
	refs, err := c.list(ctx)
	if err != nil {
		return "", err
	}
	var best *semver.Version
	var bestName string
	for _, ref := range refs {
		if !ref.Name().IsTag() || strings.HasSuffix(ref.Name().String(), "^{}") {
			continue
		}
		name := ref.Name().Short()
		v, err := semver.StrictNewVersion(strings.TrimPrefix(name, "v"))
		if err != nil || !cons.Check(v) {
			continue
		}
		// Equal precedence (v1.0.0 and 1.0.0, or build metadata): the greater name wins,
		// so the choice does not depend on listing order.
		if best == nil || v.GreaterThan(best) || (v.Equal(best) && name > bestName) {
			best, bestName = v, name
		}
	}
	if best == nil {
		return "", fmt.Errorf("%w: no tag matches", ErrNotFound)
	}
	return bestName, nil
}

func (c *cache) list(ctx context.Context) ([]*plumbing.Reference, error) {
	refs, err := c.remote().ListContext(ctx, &gogit.ListOptions{Auth: c.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list remote refs: %w", err)
	}
	return refs, nil
}

// fetchCommit makes the commit (full SHA or unambiguous prefix) present and returns it.
// The remote is always contacted, so the credentials of this request are checked even
// when another request already brought the commit into the cache.
func (c *cache) fetchCommit(ctx context.Context, commit string) (plumbing.Hash, error) {
	if len(commit) > 40 {
		return plumbing.ZeroHash, errors.New("SHA-256 repositories are not supported")
	}
	if _, err := c.list(ctx); err != nil {
		return plumbing.ZeroHash, err
	}
	if h, err := c.resolveCommit(commit); err == nil {
		return h, nil
	}
	if len(commit) == 40 {
		// Servers that allow it send just this commit; others refuse the want.
		h := plumbing.NewHash(commit)
		spec := config.RefSpec(commit + ":" + commitRef(h).String())
		err := c.remote().FetchContext(ctx, &gogit.FetchOptions{
			RefSpecs: []config.RefSpec{spec}, Depth: 1, Auth: c.auth, Tags: gogit.NoTags, Force: true,
		})
		if err == nil || errors.Is(err, gogit.NoErrAlreadyUpToDate) {
			if h, err := c.resolveCommit(commit); err == nil {
				return h, nil
			}
		} else if ctx.Err() != nil {
			return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
		}
	}
	if err := c.fetchAll(ctx); err != nil {
		return plumbing.ZeroHash, err
	}
	return c.resolveCommit(commit)
}

// commitRef keeps a commit fetched by SHA reachable in the cache.
func commitRef(h plumbing.Hash) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/trustsync/commits/" + h.String())
}

// fetchAll fetches every branch and tag with full history. go-git does not record
// "unshallow" answers, so afterwards the shallow list is trimmed to the commits whose
// parents are still missing.
func (c *cache) fetchAll(ctx context.Context) error {
	shallow, err := c.repo.Storer.Shallow()
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	depth := 0
	if len(shallow) > 0 {
		// Without deepen the server would take our shallow commits' history as present.
		depth = unshallowDepth
	}
	err = c.remote().FetchContext(ctx, &gogit.FetchOptions{
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
		Depth:    depth,
		Auth:     c.auth,
		Tags:     gogit.NoTags,
		Force:    true,
	})
	switch {
	case errors.Is(err, gogit.NoErrAlreadyUpToDate), errors.Is(err, transport.ErrEmptyRemoteRepository):
	case err != nil:
		return fmt.Errorf("fetch: %w", err)
	}
	return c.trimShallow()
}

func (c *cache) trimShallow() error {
	shallow, err := c.repo.Storer.Shallow()
	if err != nil || len(shallow) == 0 {
		return err
	}
	var still []plumbing.Hash
	for _, h := range shallow {
		commit, err := c.repo.CommitObject(h)
		if err != nil {
			continue
		}
		for _, p := range commit.ParentHashes {
			if _, err := c.repo.Storer.EncodedObject(plumbing.CommitObject, p); err != nil {
				still = append(still, h)
				break
			}
		}
	}
	return c.repo.Storer.SetShallow(still)
}

// resolveCommit finds a commit by full SHA or unambiguous prefix in the cache.
func (c *cache) resolveCommit(commit string) (plumbing.Hash, error) {
	if len(commit) == 40 {
		h := plumbing.NewHash(commit)
		if _, err := c.repo.CommitObject(h); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%w in the remote repository", ErrNotFound)
		}
		return h, nil
	}
	iter, err := c.repo.CommitObjects()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var matches []plumbing.Hash
	err = iter.ForEach(func(obj *object.Commit) error {
		if strings.HasPrefix(obj.Hash.String(), commit) {
			matches = append(matches, obj.Hash)
		}
		return nil
	})
	switch {
	case err != nil:
		return plumbing.ZeroHash, err
	case len(matches) == 0:
		return plumbing.ZeroHash, fmt.Errorf("%w in the remote repository", ErrNotFound)
	case len(matches) > 1:
		sort.Slice(matches, func(i, j int) bool { return matches[i].String() < matches[j].String() })
		return plumbing.ZeroHash, fmt.Errorf("ambiguous: matches %d commits (%s, %s, ...)", len(matches), matches[0], matches[1])
	}
	return matches[0], nil
}
