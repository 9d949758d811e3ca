package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Nerzal/gocloak/v13"
)

// Error is a failed step of a registration. Reason is one of the Reason* constants, for
// the agent's condition. It never carries a secret: gocloak's errors hold the status
// and Keycloak's message, never the request body, and the admin password is scrubbed
// from anything else.
type Error struct {
	Reason string
	// Op is what failed, e.g. "creating client"; Object what it was about, e.g. the
	// client ID.
	Op, Object string
	Err        error
}

func (e *Error) Error() string {
	msg := "keycloak: " + e.Op
	if e.Object != "" {
		msg += " " + e.Object
	}
	return msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf is the condition reason of an error from the Registrar.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonRegistrationFailed
}

// statusOf is the HTTP status of a gocloak error; 0 when Keycloak was not reached.
func statusOf(err error) int {
	var ae *gocloak.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

func isNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// classify wraps an error of a call to Keycloak: unreachable, timed out or 5xx is
// KeycloakUnavailable, anything else RegistrationFailed.
func classify(err error, op, object string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	reason := ReasonRegistrationFailed
	if code := statusOf(err); code == 0 || code >= 500 || errors.Is(err, context.DeadlineExceeded) {
		reason = ReasonKeycloakUnavailable
	}
	return &Error{Reason: reason, Op: op, Object: object, Err: err}
}

// scrub replaces a secret wherever a message repeats it.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

func errorf(reason, op, object, format string, args ...any) error {
	return &Error{Reason: reason, Op: op, Object: object, Err: fmt.Errorf(format, args...)}
}
