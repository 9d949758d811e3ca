package manifest

import (
	"fmt"
	"strings"
)

// Error is a problem with one object of the input: it names the file the object came
// from, the object and the field.
type Error struct {
	// File of the source tree; empty for generated objects.
	File string
	// Object the problem is about.
	Object Ref
	// Field is the field path, e.g. spec.targetRef.name; empty when the whole object is meant.
	Field string
	// Err says what is wrong.
	Err error
}

// Errorf builds an Error about obj.
func Errorf(obj *Object, field, format string, args ...any) *Error {
	return &Error{File: obj.Source, Object: obj.Ref(), Field: field, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	b.WriteString(e.Object.String())
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors flattens an error tree built with errors.Join into its leaves, in order.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
