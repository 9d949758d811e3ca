// Command trustsync is the one binary of trustsync: the controller, the webhook, the
// bundle server, and the commands that render, diff and preview a repository offline.
package main
