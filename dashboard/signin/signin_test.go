package signin

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/trustsync/trustsync/internal/keycloaktest"
)

const realm = "kagenti"

// rig is a dashboard stand-in (the sign-in and a page that says who is signed in) in
// front of the Keycloak fake's real OpenID provider.
type rig struct {
	kc     *keycloaktest.Server
	url    string
	signIn *SignIn
	now    time.Time
}

func newRig(t *testing.T, edit func(*Options)) *rig {
	t.Helper()
	kc, err := keycloaktest.Start(keycloaktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r := &rig{kc: kc, url: srv.URL, now: time.Now()}
	secret, err := kc.AddWebClient(realm, "trustsync-dashboard", srv.URL+PathCallback)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []keycloaktest.User{
		{Username: "alice", Password: "alice-pw", Email: "alice@example.com", Groups: []string{"sync-operators"}},
		{Username: "system:masters", Password: "mallory-pw"},
	} {
		if _, err := kc.AddUser(realm, u); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Issuer: kc.Issuer(realm), ClientID: "trustsync-dashboard", ClientSecret: secret, URL: srv.URL, Now: func() time.Time { return r.now }}
	if edit != nil {
		edit(&o)
	}
	if r.signIn, err = New(o); err != nil {
		t.Fatal(err)
	}
	r.signIn.Register(mux)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, req *http.Request) {
		u, ok := r.signIn.User(req)
		if !ok {
			fmt.Fprintf(w, "anonymous at %s", req.URL.Path)
			return
		}
		fmt.Fprintf(w, "%s %v at %s csrf=%s", u.Name, u.Groups, req.URL.Path, u.CSRF)
	})
	return r
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

var formAction = regexp.MustCompile(`action="([^"]+)"`)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signIn follows the flow a browser does: the dashboard's login link, the provider's
// login form, and the redirects back; it returns the last page.
func (r *rig) signInAs(t *testing.T, c *http.Client, next, username, password string) (int, string) {
	t.Helper()
	resp, err := c.Get(r.url + LoginURL(next))
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, page
	}
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %s", page)
	}
	resp, err = c.PostForm(html.UnescapeString(m[1]), url.Values{"username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

func TestSignIn(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		name, next, user, password string
		want                       string
	}{
		{"signs in and returns to the page it left", "/syncs/team-a/agents?tab=drift", "alice", "alice-pw", "oidc:alice [oidc:sync-operators] at /syncs/team-a/agents"},
		{"a wrong password stays on the provider's form", "/", "alice", "wrong", "Invalid username or password."},
		{"a next off this dashboard comes back to /", "//evil.example/steal", "alice", "alice-pw", "oidc:alice [oidc:sync-operators] at /"},
		{"a scheme in next comes back to /", "https://evil.example/", "alice", "alice-pw", "oidc:alice [oidc:sync-operators] at /"},
		{"a provider's name cannot pass for a Kubernetes group", "/", "system:masters", "mallory-pw", "oidc:system:masters [] at /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, page := r.signInAs(t, browser(t), tc.next, tc.user, tc.password)
			if status != http.StatusOK || !strings.Contains(page, tc.want) {
				t.Fatalf("got %d %q, want %q", status, page, tc.want)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Lifetime = time.Hour })
	c := browser(t)
	if status, page := r.signInAs(t, c, "/", "alice", "alice-pw"); status != http.StatusOK || !strings.HasPrefix(page, "oidc:alice") {
		t.Fatalf("sign-in: %d %s", status, page)
	}
	dash, _ := url.Parse(r.url)
	var session *http.Cookie
	for _, ck := range c.Jar.Cookies(dash) {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	whoami := func(cookie *http.Cookie) string {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(cookie)
		u, _ := r.signIn.User(req)
		return u.Name
	}
	if got := whoami(session); got != "oidc:alice" {
		t.Fatalf("the session names %q", got)
	}
	tampered := *session
	tampered.Value = strings.ToUpper(session.Value[:8]) + session.Value[8:]
	if got := whoami(&tampered); got != "" {
		t.Errorf("a tampered cookie signed in %q", got)
	}
	forged := &http.Cookie{Name: sessionCookie, Value: base64.URLEncoding.EncodeToString([]byte(`{"n":"oidc:admin","c":"x","e":9999999999}`))}
	if got := whoami(forged); got != "" {
		t.Errorf("a forged cookie signed in %q", got)
	}

	// Signing out needs the session's CSRF token.
	resp, err := c.PostForm(r.url+PathLogout, url.Values{"csrf": {"guess"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d", resp.StatusCode)
	}
	body(t, resp)
	resp, err = c.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	csrf := strings.TrimPrefix(regexp.MustCompile(`csrf=\S+`).FindString(body(t, resp)), "csrf=")
	// A form over the bound is not read, even with the right token in it.
	resp, err = c.PostForm(r.url+PathLogout, url.Values{"pad": {strings.Repeat("x", 8<<10)}, "csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an 8 KiB sign-out form: %d", resp.StatusCode)
	}
	body(t, resp)
	resp, err = c.PostForm(r.url+PathLogout, url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); !strings.HasPrefix(page, "anonymous") {
		t.Errorf("after signing out: %s", page)
	}

	r.now = r.now.Add(time.Hour + time.Second)
	if got := whoami(session); got != "" {
		t.Errorf("an expired session signed in %q", got)
	}
}

func TestCallbackRefusals(t *testing.T) {
	r := newRig(t, nil)
	// A callback without the state cookie its login set (another browser, a replay).
	resp, err := browser(t).Get(r.url + PathCallback + "?code=stolen&state=x")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "refused") {
		t.Errorf("a callback without state: %d %s", resp.StatusCode, page)
	}
	if page := body(t, mustGet(t, browser(t), r.url+PathCallback+"?error=access_denied")); !strings.Contains(page, "refused") {
		t.Errorf("a provider's error: %s", page)
	}
}

func mustGet(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestProviderDownAtStart(t *testing.T) {
	r := newRig(t, nil)
	r.kc.Down(true)
	resp := mustGet(t, browser(t), r.url+LoginURL("/"))
	if page := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "unreachable") {
		t.Fatalf("provider down: %d %s", resp.StatusCode, page)
	}
	r.kc.Down(false)
	if status, page := r.signInAs(t, browser(t), "/", "alice", "alice-pw"); status != http.StatusOK || !strings.HasPrefix(page, "oidc:alice") {
		t.Fatalf("once the provider is back: %d %s", status, page)
	}
}

func TestUserOf(t *testing.T) {
	many := make([]any, MaxGroups+1)
	for i := range many {
		many[i] = fmt.Sprint("g", i)
	}
	tests := []struct {
		name   string
		edit   func(*Options)
		claims map[string]any
		want   string // the user's name and groups, or the error
	}{
		{"username and groups, prefixed", nil, map[string]any{"preferred_username": "alice", "groups": []any{"a", "b"}}, "oidc:alice [oidc:a oidc:b]"},
		{"no groups claim is no groups", nil, map[string]any{"preferred_username": "alice"}, "oidc:alice []"},
		{"a null groups claim is no groups", nil, map[string]any{"preferred_username": "alice", "groups": nil}, "oidc:alice []"},
		{"no prefix when told", func(o *Options) { o.Prefix = "-" }, map[string]any{"preferred_username": "alice"}, "alice []"},
		{"a missing username claim", nil, map[string]any{"sub": "123"}, "the ID token has no usable preferred_username claim"},
		{"a username that is not a string", nil, map[string]any{"preferred_username": 7}, "the ID token has no usable preferred_username claim"},
		{"email is taken when verified", func(o *Options) { o.UsernameClaim = "email" }, map[string]any{"email": "a@x.io", "email_verified": true}, "oidc:a@x.io []"},
		{"email is refused unverified", func(o *Options) { o.UsernameClaim = "email" }, map[string]any{"email": "a@x.io", "email_verified": false}, "the ID token's email is not verified"},
		{"groups that are not a list", nil, map[string]any{"preferred_username": "alice", "groups": "admins"}, "the ID token's groups claim is not a list"},
		{"a group that is not a name", nil, map[string]any{"preferred_username": "alice", "groups": []any{"a", 3}}, "the ID token's groups claim holds a group that is not a name"},
		{"too many groups", nil, map[string]any{"preferred_username": "alice", "groups": many}, fmt.Sprintf("the ID token lists %d groups, more than %d", MaxGroups+1, MaxGroups)},
		{"a custom groups claim", func(o *Options) { o.GroupsClaim = "roles" }, map[string]any{"preferred_username": "alice", "roles": []any{"r"}, "groups": []any{"g"}}, "oidc:alice [oidc:r]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Issuer: "https://idp.example/realms/x", ClientID: "c", ClientSecret: "s", URL: "https://dash.example"}
			if tc.edit != nil {
				tc.edit(&o)
			}
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			u, err := s.userOf(&oidc.IDTokenClaims{Claims: tc.claims})
			got := fmt.Sprintf("%s %v", u.Name, u.Groups)
			if err != nil {
				got = err.Error()
			} else if u.CSRF == "" || u.Expires <= time.Now().Unix() {
				t.Errorf("no CSRF token or expiry: %+v", u)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	ok := Options{Issuer: "https://idp.example/realms/x", ClientID: "c", ClientSecret: "s", URL: "https://dash.example"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"plain http off loopback", func(o *Options) { o.Issuer = "http://idp.example/realms/x" }, "https is required off loopback"},
		{"no secret", func(o *Options) { o.ClientSecret = "" }, "client secret"},
		{"no public URL", func(o *Options) { o.URL = "" }, "public URL"},
		{"an issuer that is not a URL", func(o *Options) { o.Issuer = "idp" }, "is not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	o := ok
	o.Issuer = "http://127.0.0.1:8080/realms/x"
	if _, err := New(o); err != nil {
		t.Errorf("loopback http: %v", err)
	}
}
