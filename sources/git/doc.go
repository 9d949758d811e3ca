// Package git fetches revisions of Git repositories with go-git into an on-disk cache and
// hands them out as Artifacts: a commit, its Flux-style revision, a checked-out file tree
// and a digest of that tree. OpenRevision reads a revision of a local repository (a
// work tree, or the cache's, Fetcher.RepoDir) into memory instead, under the same path
// and symlink rules, for previews that compare two revisions.
//
// A revision names one commit, resolved strictly (CheckRevision): a branch, a tag, a full
// or abbreviated SHA or HEAD, with ancestry steps (~N, ^N, ^{commit}). REV:path, ^{tree},
// ^{blob}, ranges, reflog forms and message searches are errors, never approximated;
// an abbreviated SHA or a name that is both a branch and a tag of different commits is
// ambiguous. LocalRevisions and RemoteRevisions (branch, tag or commit, fetched) are the
// one implementation `trustsync diff`, `trustsync preview` and the engine's pull-request
// previews read revisions with.
//
// Cache layout, per repository (keyed by a hash of the normalised URL, without
// credentials):
//
//	<CacheDir>/<key>/repo/          bare repository, fetched incrementally
//	<CacheDir>/<key>/trees/<sha>/   checked-out trees, written to a temp dir then renamed
//	<CacheDir>/<key>/trees/<sha>.digest
//
// Credentials never appear in errors: an http(s) URL with userinfo (user:password@ or
// token@) or any URL with a password is refused, and error text is redacted with
// internal/redact — the credentials of the request in every encoding, and every
// credential shape — then put on one line of at most 1 KiB. SSH always checks host keys
// against the given known_hosts.
//
// It owns nothing about what the files mean. It must not import engine, renderers,
// webhook or fleet.
package git
