// Package sources owns everything that talks to Git and Git hosts: fetching revisions
// with go-git into artifacts, verifying push webhooks, and posting commit statuses and
// pull-request comments through one small interface per concern.
//
// It must not import engine, renderers, webhook or fleet.
package sources
