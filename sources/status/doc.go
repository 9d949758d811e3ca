// Package status reports back to Git hosts: commit statuses on GitHub (and GitHub
// Enterprise), GitLab, Gitea, Bitbucket Cloud and Bitbucket Server/Data Center, and, for
// previews, pull-request comments and the list of open pull requests on GitHub, GitLab
// (merge requests) and Gitea.
//
// Commit statuses (New, Poster): it owns the hosts' REST shapes for commit statuses, the
// mapping of trustsync's four states onto each host's vocabulary, deduplication against
// the newest status with the same context (so a reconcile loop does not spam the
// commit), description truncation, deriving the API address and repository from a clone
// URL, and keeping tokens out of every error it returns. It follows the commit-status
// contract of Flux's notification-controller.
//
// Pull requests (NewChangeRequests, ChangeRequests), same Options and checks as New:
//   - UpsertComment keeps one comment per pull request and marker (Marker(id) builds the
//     hidden <!-- trustsync-preview:id --> line, put first in the body): it pages through
//     the comments oldest first, edits the marked one in place when its body differs,
//     sends no write when it is equal and creates it otherwise. Bodies over the host's
//     limit (GitHub 65,536 characters, GitLab 1,000,000, Gitea 65,536 bytes by choice)
//     are cut at a line with a note, so a repeated long report still compares equal.
//   - OpenPullRequests lists open pull requests with their head commit, branches and a
//     ref in the base repository that holds the head (forks included), at most 1,000.
//
// Pagination follows GitHub's Link header, GitLab's X-Next-Page (Link for keyset pages)
// and Gitea's page numbers with X-Total-Count (its Link names ROOT_URL, which may not be
// the address the API is reached at). A next-page link to another scheme or host is
// refused: following it would send the token there. Every loop is bounded.
//
// What differs between the hosts (address derivation, repository shape, credentials,
// the APIs built) is one row of the hosts table in providers.go; a new host is a row.
//
// It does not decide which commit, context, state, comment or pull request to post (the
// engine and the preview command do), and it does not retry: callers own retry and
// backoff.
//
// It must not import engine, renderers, webhook or fleet.
package status
