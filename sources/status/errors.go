package status

import (
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/internal/redact"
)

// PostError is a failed Post: a status that failed its checks, a transport failure or a
// non-2xx answer from the host. Its text never contains the token.
type PostError struct {
	Provider   Provider
	Repository string
	Commit     string // first 12 characters
	Context    string
	Op         string // "check", "list statuses" or "post status"
	StatusCode int    // 0 when no HTTP answer arrived
	Body       string // at most maxErrorBody bytes of the answer, secrets redacted
	Err        error  // the cause, secrets redacted from its text
}

func (e *PostError) Error() string {
	return hostError(fmt.Sprintf("%s %s@%s: %s %q", e.Provider, e.Repository, e.Commit, e.Op, e.Context), e.StatusCode, e.Body, e.Err)
}

// hostError is the text of every error of a call to a Git host: what was attempted,
// then the host's answer if one arrived, else the cause.
func hostError(what string, statusCode int, body string, cause error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s", what)
	if statusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", statusCode)
		if body != "" {
			fmt.Fprintf(&b, ": %s", body)
		}
	} else if cause != nil {
		fmt.Fprintf(&b, ": %v", cause)
	}
	return b.String()
}

func (e *PostError) Unwrap() error { return e.Err }

// responseError is a non-2xx answer, already redacted and cut.
type responseError struct {
	StatusCode int
	Body       string
}

func (e *responseError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body) }

// maxErrorBody bounds how much of a host's answer an error carries: enough to read the
// host's message, not enough to flood logs.
const maxErrorBody = 200

// redactor removes secrets from text that may have been echoed back by a host or a proxy:
// the token in every encoding (raw, escaped, base64, inside a Basic header's value) and
// every credential shape (see internal/redact).
type redactor struct{ r *redact.Redactor }

func newRedactor(secrets ...string) redactor { return redactor{redact.New(secrets...)} }

func (r redactor) redact(s string) string { return r.r.String(s) }

// readLimit is how much of an error answer to read so that cutting after redaction can
// never leave the beginning of a secret that straddles the cut.
func (r redactor) readLimit() int64 {
	return int64(maxErrorBody + r.r.MaxLen() + 1024)
}

// errorBody makes an answer fit an error: redacted, on one line, bounded.
func (r redactor) errorBody(body []byte) string {
	s, _ := r.r.Line(string(body), maxErrorBody)
	return s
}

// redactedError keeps the cause for errors.Is/As while its text stays free of secrets.
type redactedError struct {
	err error
	r   redactor
}

func (e *redactedError) Error() string { return e.r.redact(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }
