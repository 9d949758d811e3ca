// Package report turns the object diff and the access diff of a pull request, with the
// Rego tests of its head, into the report a reviewer reads: a verdict, the access
// changes first, then the objects; as Markdown for a pull-request comment (bounded to
// what the hosts accept) and as JSON with everything.
//
// It must not import engine, webhook or sources.
package report
