// Package files reads the sidecar's files (config.yaml, routes.yaml, credentials, the
// agent ID), each bounded before it is read whole. It imports nothing of trustsync.
package files
