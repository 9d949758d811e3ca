// Package status posts commit statuses to Git hosts: GitHub (and GitHub Enterprise),
// GitLab, Gitea, Bitbucket Cloud and Bitbucket Server/Data Center.
//
// It owns the hosts' REST shapes for commit statuses, the mapping of trustsync's four
// states onto each host's vocabulary, deduplication against the newest status with the
// same context (so a reconcile loop does not spam the commit), description truncation,
// deriving the API address and repository from a clone URL, and keeping tokens out of
// every error it returns. It follows the commit-status contract of Flux's
// notification-controller.
//
// It does not decide which commit, context or state to post (the engine does), and it
// does not retry: callers own retry and backoff.
//
// It must not import engine, renderers, webhook or fleet.
package status
