package secretscan

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestFindings: a secret is found in each encoding a message could carry it in, inside
// other text and inside longer base64 at every alignment; text without it, a short
// value and a public certificate key are not findings.
func TestFindings(t *testing.T) {
	const token = "ghp_0123456789abcdefABCDEF"
	tests := []struct {
		name string
		text string
		want string // the form found; "" for none
	}{
		{name: "raw in a log line", text: `{"msg":"fetch failed","url":"https://u:` + token + `@git.example/r"}`, want: "raw"},
		{name: "base64", text: "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(token)), want: "base64"},
		{name: "base64 of user:token", text: "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+token)), want: "inside base64 (alignment 2)"},
		{name: "base64 of x:token", text: base64.StdEncoding.EncodeToString([]byte("x:" + token + "!")), want: "inside base64 (alignment 2)"},
		{name: "base64 of a:token", text: base64.StdEncoding.EncodeToString([]byte("a" + token + "trailing")), want: "inside base64 (alignment 1)"},
		{name: "base64url unpadded", text: base64.RawURLEncoding.EncodeToString([]byte(token + "?")), want: "inside base64 (alignment 0)"},
		{name: "hex", text: "key=" + hex.EncodeToString([]byte(token)), want: "hex"},
		{name: "nothing", text: "token ghp_[REDACTED] refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Secret("Secret team/git key password", []byte(token))
			s.Secret("short", []byte("true"))
			s.Text("log", tc.text)
			got := s.Findings()
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("findings %v in %q, want none", got, tc.text)
				}
				return
			}
			var forms []string
			for _, f := range got {
				if f.Secret != "Secret team/git key password" || f.Source != "log" {
					t.Errorf("finding %v", f)
				}
				forms = append(forms, f.Form)
			}
			if !strings.Contains(strings.Join(forms, ","), tc.want) {
				t.Fatalf("forms found %v in %q, want %q", forms, tc.text, tc.want)
			}
		})
	}
}

// TestLoggerIsScanned: what goes through the scanner's logger, at debug verbosity too,
// is scanned.
func TestLoggerIsScanned(t *testing.T) {
	s := New()
	s.Secret("webhook secret", []byte("push-secret-value"))
	s.Logger().V(1).Info("received", "body", "sig=push-secret-value")
	if f := s.Findings(); len(f) != 1 || f[0].Source != "log" {
		t.Fatalf("findings %v, want the debug line", f)
	}
}

// TestVerdict: a finding, an unknown secret set or a kind of text never collected fails
// the scan; a partial run is excused the missing kinds only.
func TestVerdict(t *testing.T) {
	const secret = "s3cret-value-0123"
	for _, c := range []struct {
		name    string
		secret  bool
		texts   map[string]string
		partial bool
		want    string // "" for success
	}{
		{name: "clean", secret: true, texts: map[string]string{"log": "ok", "Event a/b": "ok"}},
		{name: "a finding", secret: true, texts: map[string]string{"log": "token " + secret, "Event a/b": "ok"}, want: "log: the secret (raw)"},
		{name: "no Event collected", secret: true, texts: map[string]string{"log": "ok"}, want: "no Event text was collected"},
		{name: "no Event, partial run", secret: true, texts: map[string]string{"log": "ok"}, partial: true},
		{name: "no secret known", texts: map[string]string{"log": "ok", "Event a/b": "ok"}, want: "no secret value was collected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			if c.secret {
				s.Secret("the secret", []byte(secret))
			}
			for src, text := range c.texts {
				s.Text(src, text)
			}
			_, err := s.Verdict([]string{"log", "Event"}, c.partial)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("verdict %v, want success", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("verdict %v, want an error containing %q", err, c.want)
			}
		})
	}
}
