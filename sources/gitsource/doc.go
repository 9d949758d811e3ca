// Package gitsource reconciles GitSources: it fetches each source's revision with
// sources/git, publishes the artifact in an in-process Store for the Syncs, and records it
// in the GitSource's status. Push receivers trigger an immediate fetch through Trigger.
//
// It must not import engine, renderers, webhook or fleet.
package gitsource
