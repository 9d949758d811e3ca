package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Marker replaces what is hidden.
const Marker = "[REDACTED]"

// Redactor hides a set of secret values and every credential shape. The zero value and
// nil hide shapes only. It is immutable and safe for concurrent use.
type Redactor struct {
	values  []string // the secrets as given, looked for in decoded text
	needles []string // every encoding of every value, longest first
}

// New returns a Redactor for secrets; empty strings are ignored. For basic credentials
// pass Basic(user, password) too, for a private key Key(pem).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s == "" || slices.Contains(r.values, s) {
			continue
		}
		r.values = append(r.values, s)
		for _, n := range encodings(s) {
			if n != "" && !slices.Contains(r.needles, n) {
				r.needles = append(r.needles, n)
			}
		}
	}
	// Longest first, so a header value goes before the token inside it.
	slices.SortStableFunc(r.needles, func(a, b string) int { return len(b) - len(a) })
	return r
}

// Basic is what basic credentials are hidden by: the password, and user:password and
// :password, whose base64 is what an Authorization: Basic header carries.
func Basic(user, password string) []string {
	if password == "" {
		return nil
	}
	return []string{password, user + ":" + password, ":" + password}
}

// Key is what a private key is hidden by: the whole key and each line of its body, so
// a quoted fragment is hidden too.
func Key(key []byte) []string {
	if len(key) == 0 {
		return nil
	}
	out := []string{strings.TrimSpace(string(key))}
	for line := range strings.SplitSeq(string(key), "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// MaxLen is the length of the longest encoding hidden: a caller that cuts text after
// redacting reads this much more, so no secret straddles the cut unredacted.
func (r *Redactor) MaxLen() int {
	if r == nil || len(r.needles) == 0 {
		return 0
	}
	return len(r.needles[0])
}

// String returns text with every known secret, in every encoding, and every credential
// shape replaced by Marker.
func (r *Redactor) String(text string) string {
	// Whole base64 runs first: a secret's own encoding may sit inside a longer one
	// (user:password), and the run is what must go.
	text = b64Run.ReplaceAllStringFunc(text, func(run string) string {
		if r.decodedHolds(run, 0) {
			return Marker
		}
		return run
	})
	if r != nil {
		for _, n := range r.needles {
			text = strings.ReplaceAll(text, n, Marker)
		}
	}
	return shapes(text)
}

// Line is text made fit to quote in one line of a message: redacted first (while the
// header lines of an answer are still lines), then its white space collapsed, invalid
// UTF-8 replaced, and cut to at most max bytes on a rune boundary; cut says whether it
// was.
func (r *Redactor) Line(text string, max int) (line string, cut bool) {
	s := strings.Join(strings.Fields(r.String(text)), " ")
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s, false
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s, true
}

// Error returns err with its text redacted; errors.Is and errors.As still see the
// cause. nil stays nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, r: r}
}

type redactedError struct {
	err error
	r   *Redactor
}

func (e *redactedError) Error() string { return e.r.String(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// String hides the credential shapes in text (no known values).
func String(text string) string { return (*Redactor)(nil).String(text) }

// encodings are the forms a value may be quoted in by a host, a proxy or a library.
func encodings(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s)))}
	if q := strconv.Quote(s); len(q) >= 2 {
		out = append(out, q[1:len(q)-1])
	}
	if j, err := json.Marshal(s); err == nil && len(j) >= 2 {
		out = append(out, string(j[1:len(j)-1])) // HTML-escaped, as encoding/json writes
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		e := enc.EncodeToString([]byte(s))
		out = append(out, e, url.QueryEscape(e))
	}
	return out
}

// b64Run is text that may be base64 (either alphabet, padded or not, padding possibly
// URL-escaped).
var b64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}(?:={1,2}|(?:%3[Dd]){1,2})?`)

// maxDecodeDepth bounds how many layers of base64 inside base64 are looked through.
const maxDecodeDepth = 2

// decodedHolds says whether run, decoded as base64, holds a known secret or a credential
// shape, looking through base64 nested inside it.
func (r *Redactor) decodedHolds(run string, depth int) bool {
	for _, d := range decodings(run) {
		if r != nil {
			for _, v := range r.values {
				if strings.Contains(d, v) {
					return true
				}
			}
		}
		if hasShape(d) {
			return true
		}
		if depth+1 < maxDecodeDepth {
			for _, inner := range b64Run.FindAllString(d, 16) {
				if r.decodedHolds(inner, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

// decodings are the texts run decodes to, in the alphabets it could be in.
func decodings(run string) []string {
	s := strings.TrimRight(run, "=")
	for strings.HasSuffix(strings.ToUpper(s), "%3D") {
		s = s[:len(s)-3]
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1] // a lone last character carries no byte
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding // a run mixing both alphabets is not base64
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil
	}
	return []string{string(b)}
}
