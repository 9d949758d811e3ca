// Command p4-push is benchmark P4: the time from `git push` to the commit status on that
// commit, through everything real — Gitea's push webhook, the controller's receiver, the
// fetch, the render, the apply, the status posted back to Gitea — over 20 pushes of a
// one-line change to the single-agent example.
package main
