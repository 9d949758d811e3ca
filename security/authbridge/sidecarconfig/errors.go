package sidecarconfig

import (
	"errors"
	"fmt"
	"regexp"
)

// FieldError is a problem with one field of a document, named by its path:
// pipeline.inbound.plugins[1].config.issuer, or "" for the whole document.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Warning is something the sidecar accepts but that is probably not meant, or that
// upstream AuthBridge would treat differently.
type Warning struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Field == "" {
		return w.Message
	}
	return w.Field + ": " + w.Message
}

// problems collects every problem of a document, so one run reports them all.
type problems struct {
	errs     []error
	warnings []Warning
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
}

func (p *problems) warn(field, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// plainKey is a key that reads unambiguously in a dotted path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join extends a field path by a mapping key.
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		key = fmt.Sprintf("%q", key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index extends a field path by a sequence index.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
