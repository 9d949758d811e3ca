// Package gittest runs real git servers for tests: git-http-backend (smart HTTP) behind
// an httptest server, optionally behind basic or bearer auth, and an in-process SSH
// server that executes git-upload-pack and git-receive-pack. It also makes working
// clones for committing, tagging and pushing with the git CLI.
//
// Everything is bounded (per-command timeouts, server timeouts) and cleaned up through
// t.Cleanup; failures report git's stderr.
//
// It is for tests only and must not import other trustsync packages.
package gittest
