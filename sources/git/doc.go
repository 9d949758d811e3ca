// Package git fetches revisions of Git repositories with go-git into an on-disk cache and
// hands them out as Artifacts: a commit, its Flux-style revision, a checked-out file tree
// and a digest of that tree. OpenRevision reads any revision of a local repository (a
// work tree, or the cache's, Fetcher.RepoDir) into memory instead, under the same path
// and symlink rules, for previews that compare two revisions.
//
// Cache layout, per repository (keyed by a hash of the normalised URL, without
// credentials):
//
//	<CacheDir>/<key>/repo/          bare repository, fetched incrementally
//	<CacheDir>/<key>/trees/<sha>/   checked-out trees, written to a temp dir then renamed
//	<CacheDir>/<key>/trees/<sha>.digest
//
// Credentials never appear in errors: URLs lose their userinfo and passwords and tokens
// are redacted from any text. SSH always checks host keys against the given known_hosts.
//
// It owns nothing about what the files mean. It must not import engine, renderers,
// webhook or fleet.
package git
