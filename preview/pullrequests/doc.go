// Package pullrequests previews pull requests from the controller: for every GitSource with
// spec.preview it lists the open pull requests through the commit-status provider and,
// for each new head commit, runs the preview of every Sync of the source (package
// preview) and publishes it — one comment per Sync on the pull request, a commit status on
// the head. The Git host and the fetching are behind the small Host, Hosts and Revisions
// interfaces; internal/app/controller implements them with sources/status and sources/git.
//
// It must not import sources, engine or webhook.
package pullrequests
