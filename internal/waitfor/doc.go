// Package waitfor is the one polling helper of the tests: wait, bounded, until a
// condition holds or an object reaches a state, and fail with what was awaited and the
// last thing seen. It replaces the waiters every test package used to write.
//
// It is test support: production code must not import it.
package waitfor
