// Package progress shows what a long command is doing on one line of a terminal, and
// nothing at all when its output is not a terminal (piped, redirected) or it runs in CI,
// so logs and pipes see only the command's own output.
package progress
