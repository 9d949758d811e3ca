package redact

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// Credential shapes, hidden whether or not the Redactor was told the value.
var (
	// A PEM private key, to its END line or, cut short, to the end of the text.
	privateKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)

	// A header that carries a credential, quoted as "Name: value" or name=value; the
	// value runs to the end of the line or a quote. An Authorization scheme is kept.
	credentialHeader = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|private-token|job-token|deploy-token|cookie|set-cookie|x-[a-z0-9-]*(?:token|api-key|apikey|auth|secret|password|signature)[a-z0-9-]*)(\\?"?\s*[:=]\s*\\?"?)((?:basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256)\s+)?[^\r\n"\\]+`)

	// Basic, Bearer and token values outside a header. Basic must decode to user:password
	// and the others look like tokens, so prose ("basic auth", "a bearer token") stays.
	basicValue  = regexp.MustCompile(`(?i)\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})`)
	bearerValue = regexp.MustCompile(`(?i)\b(bearer\s+|token\s+)([A-Za-z0-9._~+/-]{8,}=*)`)

	// URL userinfo: scheme://user:password@ or scheme://token@; the userinfo goes. A
	// password may hold an unescaped '/' (the URL then does not even parse), so after a
	// colon anything up to the '@' counts.
	userinfo         = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s"'<>]*@`)
	userinfoPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@:\s"'<>]*:[^@\s"'<>]*@`)

	// Query and form parameters named like credentials, anywhere, and short names that
	// mean a credential only as a URL parameter.
	secretParam = regexp.MustCompile(`(?i)((?:^|[?&;\s"'{,(])[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|credential|signature)[\w.-]*=)([^&\s"'#<>;,)]+)`)
	shortParam  = regexp.MustCompile(`(?i)([?&;](?:key|sig|code|auth|pass|pw|ticket|session|sid)=)([^&\s"'#<>;,)]+)`)

	// JSON members named like credentials, also when the JSON is itself quoted (\").
	secretMember = regexp.MustCompile(`(?i)(\\?"[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|credential|authorization|private[_-]?key)[\w.-]*\\?"\s*:\s*\\?")((?:[^"\\]|\\[^"])*)(\\?")`)

	// Token formats of Git hosts and common services, and JSON Web Tokens.
	knownToken = regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|gl(?:dt|rt|ptt|cbt|imt|soat|ffct|agent)-[A-Za-z0-9_-]{20,}|ATBB[A-Za-z0-9_=.-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,})`)
	jwt        = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
)

// shapes hides every credential shape in text.
func shapes(text string) string {
	text = privateKey.ReplaceAllString(text, Marker)
	text = replaceSubmatch(credentialHeader, text, func(m []string) string { return m[1] + m[2] + m[3] + Marker })
	text = replaceSubmatch(basicValue, text, func(m []string) string {
		if !basicCredential(m[2]) {
			return m[0]
		}
		return m[1] + Marker
	})
	text = replaceSubmatch(bearerValue, text, func(m []string) string {
		if !tokenLike(m[2]) {
			return m[0]
		}
		return m[1] + Marker
	})
	text = userinfoPassword.ReplaceAllString(text, "$1")
	text = userinfo.ReplaceAllString(text, "$1")
	text = secretParam.ReplaceAllString(text, "${1}"+Marker)
	text = shortParam.ReplaceAllString(text, "${1}"+Marker)
	text = secretMember.ReplaceAllString(text, "${1}"+Marker+"${3}")
	text = knownToken.ReplaceAllString(text, Marker)
	return jwt.ReplaceAllString(text, Marker)
}

// hasShape says whether decoded text holds a credential shape.
func hasShape(text string) bool {
	if privateKey.MatchString(text) || knownToken.MatchString(text) || jwt.MatchString(text) || credentialHeader.MatchString(text) {
		return true
	}
	for _, m := range basicValue.FindAllStringSubmatch(text, 4) {
		if basicCredential(m[2]) {
			return true
		}
	}
	return false
}

// replaceSubmatch is ReplaceAllStringFunc with the submatches.
func replaceSubmatch(re *regexp.Regexp, text string, repl func([]string) string) string {
	return re.ReplaceAllStringFunc(text, func(match string) string {
		return repl(re.FindStringSubmatch(match))
	})
}

// basicCredential says whether v is base64 of user:password.
func basicCredential(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
	}
	return err == nil && strings.Contains(string(b), ":")
}

// tokenLike says whether v looks like a token rather than a word: it holds a digit, or
// is long.
func tokenLike(v string) bool {
	return len(v) >= 20 || strings.ContainsAny(v, "0123456789")
}

// URLUserinfo says whether text holds a URL with userinfo (user@, token@ or
// user:password@), and whether with a password, judged on the text: a URL whose password
// holds a '/' does not parse, and must still be refused as carrying credentials.
func URLUserinfo(text string) (any, withPassword bool) {
	withPassword = userinfoPassword.MatchString(text)
	return withPassword || userinfo.MatchString(text), withPassword
}
