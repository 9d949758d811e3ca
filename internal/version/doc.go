// Package version holds the build's version, stamped by the linker
// (-X github.com/trustsync/trustsync/internal/version.Version=...).
package version
