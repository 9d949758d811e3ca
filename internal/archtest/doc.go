// Package archtest holds the import arrows of DESIGN.md as a test: the tiers
// (cmd → the processes' packages → sources, renderers, security → the rules layer → api),
// the sideways rules between packages of one tier, and the heavy dependencies a pure
// package must not link (the controller-runtime manager, client-go's clients, gocloak).
// Each package's doc.go says in words what it must not import; the table here holds it.
// It also holds every controller package to the one controller shape (CONTRIBUTING.md).
//
// It holds tests only and must not be imported.
package archtest
