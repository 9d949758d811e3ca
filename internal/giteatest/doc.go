// Package giteatest runs a real Gitea (1.26.0) for a test: a fresh sqlite database and
// work directory, an admin user with an all-scopes access token, `gitea web` on a free
// 127.0.0.1 port, and the few API calls tests need around it (create a repository and
// branches, open pull requests, read and add their comments, read commit statuses and
// the combined status, register a push webhook, wait for a push to be processed). Tests
// use it where the behaviour under test is a forge's: commit statuses, pull-request
// comments, webhook delivery and signatures, pushes over HTTP.
//
// Gitea handles pushes in a background queue: right after `git push` the API may still
// call a repository empty or show a pull request's old head. WaitForBranch and
// WaitForPullRequestHead wait for that, bounded.
//
// The binary comes from hack/gitea.sh (make gitea); it is looked up in TRUSTSYNC_GITEA,
// else in ~/.cache/trustsync/tools/gitea-v1.26.0/gitea. A missing binary fails the test
// with instructions: a test that needs a real forge never skips silently.
//
// It owns only the Gitea process and its work directory. It must not import trustsync's
// own packages, so any package's tests can use it without an import cycle; clients of the
// forge API under test are the caller's, this package's helpers only set the stage.
package giteatest
