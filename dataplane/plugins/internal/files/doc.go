// Package files reads the files the plugins are given (credentials, the agent ID, the
// routes), each bounded before it is read whole. It imports nothing of trustsync.
package files
