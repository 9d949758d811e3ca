package redact

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

const (
	user     = "alice"
	password = "pa55/w0rd+x=y&z"
	token    = "tok-3f9a1c0de55e4b2a"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestKnownSecrets: a secret the Redactor is told is hidden in every encoding it may be
// quoted in.
func TestKnownSecrets(t *testing.T) {
	r := New(append(Basic(user, password), token)...)
	basic := b64(user + ":" + password)
	tests := []struct {
		name, text string
		secrets    []string // none may remain
	}{
		{"raw password", "auth failed for " + password, []string{password}},
		{"raw token", "token " + token + " refused", []string{token}},
		{"URL-escaped password", "GET /x?p=" + url.QueryEscape(password), []string{url.QueryEscape(password)}},
		{"path-escaped password", "https://host/" + url.PathEscape(password) + "/x", []string{url.PathEscape(password)}},
		{"Go-quoted", "value " + strconv.Quote(password), []string{password}},
		{"JSON-escaped", `{"p":"pa55/w0rd+x=y\u0026z"}`, []string{`pa55/w0rd+x=y\u0026z`}},
		{"hex", "dump " + hex.EncodeToString([]byte(password)), []string{hex.EncodeToString([]byte(password))}},
		{"base64 of the password", "p=" + b64(password), []string{b64(password)}},
		{"base64url of the password", "p=" + base64.RawURLEncoding.EncodeToString([]byte(password)), []string{base64.RawURLEncoding.EncodeToString([]byte(password))}},
		{"base64 of user:password", "got " + basic + " from you", []string{basic}},
		{"base64 of :password", "got " + b64(":"+password), []string{b64(":" + password)}},
		{"base64 of user:password, URL-escaped", "h=" + url.QueryEscape(basic), []string{url.QueryEscape(basic), basic}},
		{"basic header quoted back", "HTTP 401: you sent Authorization: Basic " + basic, []string{basic}},
		{"basic value in JSON", `{"header":"Basic ` + basic + `"}`, []string{basic}},
		{"base64 of another user with the password", "x " + b64("x-access-token:"+password), []string{b64("x-access-token:" + password)}},
		{"base64 of a header holding the basic value", "x " + b64("Authorization: Basic "+basic), []string{b64("Authorization: Basic " + basic)}},
		{"base64 of text holding the token", "x " + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"`+token+`"}`)), []string{base64.RawURLEncoding.EncodeToString([]byte(`{"t":"` + token + `"}`))}},
		{"bearer header", "Authorization: Bearer " + token, []string{token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.String(tt.text)
			for _, s := range append(tt.secrets, password, token, basic) {
				if strings.Contains(got, s) {
					t.Errorf("String(%q) = %q, still holds %q", tt.text, got, s)
				}
			}
			if !strings.Contains(got, Marker) {
				t.Errorf("String(%q) = %q, want %s", tt.text, got, Marker)
			}
		})
	}
}

// TestShapes: credentials nobody told the Redactor about are hidden by their shape.
func TestShapes(t *testing.T) {
	key := privateKeyPEM(t)
	tests := []struct {
		name, text string
		gone       []string // must not remain
		kept       []string // must remain
	}{
		{"URL userinfo with password", `Get "https://bob:hunter2@git.example/r.git/info/refs": 401`, []string{"bob", "hunter2"}, []string{"https://git.example/r.git"}},
		{"URL userinfo token only", "clone https://ghx0token0abc@git.example/r.git failed", []string{"ghx0token0abc"}, []string{"https://git.example/r.git"}},
		{"URL userinfo, escaped", "https://bob:p%40ss@host/x", []string{"p%40ss"}, []string{"https://host/x"}},
		{"URL userinfo, a slash in the password", `repository URL http://bob:pa55/w0rd+x@host:80/r.git is not valid`, []string{"bob", "pa55", "w0rd"}, []string{"http://host:80/r.git is not valid"}},
		{"access_token query", "GET https://host/api?access_token=abc123&page=2", []string{"abc123"}, []string{"page=2"}},
		{"private_token query", "https://gitlab.example/api/v4?private_token=glsecret9", []string{"glsecret9"}, []string{"private_token="}},
		{"token query", "https://host/x?token=zzz999", []string{"zzz999"}, nil},
		{"key query", "https://host/x?key=k3y", []string{"k3y"}, nil},
		{"password form field", "body: user=bob&password=hunter2", []string{"hunter2"}, []string{"user=bob"}},
		{"client_secret form field", "client_id=a&client_secret=s3cr3t", []string{"s3cr3t"}, []string{"client_id=a"}},
		{"JSON token member", `{"message":"bad","token":"abc.def.ghi"}`, []string{"abc.def.ghi"}, []string{`"message":"bad"`}},
		{"JSON password member, quoted", `body "{\"password\":\"hunter2\"}"`, []string{"hunter2"}, nil},
		{"authorization header, bearer", "request had Authorization: Bearer opaque-value", []string{"opaque-value"}, []string{"Authorization: Bearer"}},
		{"authorization header, basic", "Authorization: Basic " + b64("bob:hunter2"), []string{b64("bob:hunter2")}, []string{"Authorization: Basic"}},
		{"authorization header, unknown scheme", "authorization=Custom xyz", []string{"xyz"}, nil},
		{"proxy-authorization", "Proxy-Authorization: Basic Ym9iOmh1bnRlcjI=", []string{"Ym9iOmh1bnRlcjI="}, nil},
		{"PRIVATE-TOKEN header", "PRIVATE-TOKEN: glpat-short", []string{"glpat-short"}, []string{"PRIVATE-TOKEN"}},
		{"x- token header", "X-Gitea-Token: 0011aabb", []string{"0011aabb"}, nil},
		{"cookie", "Cookie: session=abcdef", []string{"abcdef"}, nil},
		{"basic value alone", "you sent basic " + b64("bob:hunter2"), []string{b64("bob:hunter2")}, nil},
		{"basic value URL-safe, base64 of a header", "x " + b64("Authorization: Basic "+b64("bob:hunter2")), []string{b64("Authorization: Basic " + b64("bob:hunter2"))}, nil},
		{"bearer value alone", "bearer 9f8e7d6c5b4a", []string{"9f8e7d6c5b4a"}, nil},
		{"gitea token value", "token 0123456789abcdef0123", []string{"0123456789abcdef0123"}, nil},
		{"github token", "remote said ghp_" + strings.Repeat("a1", 18), []string{"ghp_" + strings.Repeat("a1", 18)}, nil},
		{"github fine-grained token", "github_pat_" + strings.Repeat("B2", 20), []string{"github_pat_" + strings.Repeat("B2", 20)}, nil},
		{"gitlab token", "glpat-" + strings.Repeat("x", 20), []string{"glpat-" + strings.Repeat("x", 20)}, nil},
		{"bitbucket app password", "ATBB" + strings.Repeat("Q", 28), []string{"ATBB" + strings.Repeat("Q", 28)}, nil},
		{"JWT", "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl expired", []string{"eyJzdWIiOiJ4In0"}, []string{"expired"}},
		{"PEM private key", "identity:\n" + key + "\nrest", []string{"PRIVATE KEY", pemBody(key)}, []string{"identity:", "rest"}},
		{"PEM private key cut short", "quoted: " + key[:60], []string{"PRIVATE KEY"}, []string{"quoted: "}},
		{"PEM private key in base64", "blob " + b64(key), []string{b64(key)[:40]}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := String(tt.text)
			for _, s := range tt.gone {
				if strings.Contains(got, s) {
					t.Errorf("String(%q) = %q, still holds %q", tt.text, got, s)
				}
			}
			for _, s := range tt.kept {
				if !strings.Contains(got, s) {
					t.Errorf("String(%q) = %q, lost %q", tt.text, got, s)
				}
			}
		})
	}
}

// TestKeepsOrdinaryText: messages without credentials come out as they went in, so
// errors still say what went wrong.
func TestKeepsOrdinaryText(t *testing.T) {
	r := New(Basic(user, password)...)
	for _, text := range []string{
		`git https://git.example/org/repo.git branch "main": fetch: authentication required`,
		"git credentials Secret: set only one of username/password, bearerToken and identity/known_hosts",
		"status: option Token: empty; every provider needs one to post statuses",
		"use basic auth or a bearer token, not both",
		"token refused: authorization failed",
		"repository URL https://git.example/r.git must not contain credentials; use the credentials Secret",
		"git /work/tree revision \"HEAD:path\": a path (REV:path) names a file, not a commit",
		"commit 0123456789abcdef0123456789abcdef01234567 not found",
		"AgentRuntime team-a/research-agent: spec.targetRef: Deployment team-a/research-agent is not in the build",
		"ssh: handshake failed: knownhosts: key mismatch",
	} {
		if got := r.String(text); got != text {
			t.Errorf("String(%q) = %q, want it unchanged", text, got)
		}
	}
}

func TestBasicAndKey(t *testing.T) {
	if Basic("u", "") != nil {
		t.Error("Basic without a password hides something")
	}
	key := privateKeyPEM(t)
	r := New(Key([]byte(key))...)
	line := strings.Split(key, "\n")[1]
	if got := r.String("fragment " + line + " quoted"); strings.Contains(got, line) {
		t.Errorf("a line of the key survived: %q", got)
	}
	if r.MaxLen() < len(strings.TrimSpace(key)) {
		t.Errorf("MaxLen %d, shorter than the key (%d)", r.MaxLen(), len(key))
	}
	if (*Redactor)(nil).MaxLen() != 0 || New().MaxLen() != 0 {
		t.Error("MaxLen of an empty Redactor is not 0")
	}
}

func TestError(t *testing.T) {
	r := New(token)
	if r.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	cause := fmt.Errorf("GET with %s: %w", token, fs.ErrPermission)
	err := r.Error(cause)
	if strings.Contains(err.Error(), token) {
		t.Errorf("Error() = %q, holds the token", err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Error("errors.Is does not see the cause")
	}
	if wrapped := fmt.Errorf("outer: %w", err); strings.Contains(wrapped.Error(), token) {
		t.Errorf("wrapping shows the token: %q", wrapped)
	}
}

func privateKeyPEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}

func pemBody(key string) string { return strings.Split(key, "\n")[1] }

func TestURLUserinfo(t *testing.T) {
	for _, tt := range []struct {
		text               string
		userinfo, password bool
	}{
		{"https://git.example/r.git", false, false},
		{"https://git.example/org/r@v1", false, false},
		{"git@github.com:org/r.git", false, false},
		{"ssh://git@github.com/org/r.git", true, false},
		{"https://tok3n@git.example/r.git", true, false},
		{"https://bob:hunter2@git.example/r.git", true, true},
		{"http://bob:pa55/w0rd@git.example/r.git", true, true},
		{"HTTPS://bob:x@git.example", true, true},
	} {
		u, p := URLUserinfo(tt.text)
		if u != tt.userinfo || p != tt.password {
			t.Errorf("URLUserinfo(%q) = %v, %v; want %v, %v", tt.text, u, p, tt.userinfo, tt.password)
		}
	}
}

func TestLine(t *testing.T) {
	r := New("s3cret-token")
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
		cut      bool
	}{
		{"redacted before it is cut", "a\nAuthorization: Bearer s3cret-token\n", 100, "a Authorization: Bearer [REDACTED]", false},
		{"white space on one line", "  one\n\ttwo  three \r\n", 100, "one two three", false},
		{"invalid UTF-8 replaced", "a\xffb", 100, "a\uFFFDb", false},
		{"cut on a rune boundary", "abcé", 4, "abc", true},
		{"exactly the bound", "abcd", 4, "abcd", false},
		{"a secret at the cut is hidden whole", "xx s3cret-token yy", 8, "xx [REDA", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := r.Line(tc.in, tc.max)
			if got != tc.want || cut != tc.cut {
				t.Errorf("Line(%q, %d) = %q, %v; want %q, %v", tc.in, tc.max, got, cut, tc.want, tc.cut)
			}
		})
	}
}
