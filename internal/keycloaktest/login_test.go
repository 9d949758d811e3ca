package keycloaktest

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAuthorizationCodeFlow walks the flow as a browser and a web client do: the
// authorization endpoint sends the browser to the login form, the right password
// sends it back with a code, the code is exchanged once for an ID token naming the
// user and their groups, and a second exchange of the same code is refused.
func TestAuthorizationCodeFlow(t *testing.T) {
	s, _, _ := start(t)
	const redirect = "http://127.0.0.1:1/callback"
	secret, err := s.AddWebClient(realmName, "web", redirect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(realmName, User{Username: "alice", Password: "pw", Email: "alice@example.com", Groups: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(realmName, User{Username: "alice", Password: "other"}); err == nil {
		t.Error("a second user alice was added")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authURL := func(redirectURI string) string {
		return s.Issuer(realmName) + "/" + pathAuth + "?" + url.Values{"client_id": {"web"}, "redirect_uri": {redirectURI},
			"response_type": {"code"}, "scope": {"openid profile email groups"}, "state": {"s1"}}.Encode()
	}

	// A redirect URI the client did not register gets no login form.
	if resp, err := noFollow.Get(authURL("http://evil.example/cb")); err != nil || resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), pathLogin) {
		t.Fatalf("an unregistered redirect URI: %v %v", resp, err)
	}

	resp, err := http.Get(authURL(redirect)) // follows to the login form
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %s", page)
	}
	action := html.UnescapeString(string(m[1]))
	resp, err = noFollow.PostForm(action, url.Values{"username": {"alice"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Invalid username or password.") {
		t.Fatalf("a wrong password: %d %s", resp.StatusCode, body)
	}
	resp, err = noFollow.PostForm(action, url.Values{"username": {"alice"}, "password": {"pw"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The provider's callback issues the code and redirects to the client.
	for resp.StatusCode == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), redirect) {
		if resp, err = noFollow.Get(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != "s1" || back.Query().Get("code") == "" {
		t.Fatalf("back at the client with %q (%d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	code := back.Query().Get("code")

	exchange := func() (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.Issuer(realmName)+"/"+pathToken, strings.NewReader(url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, tokens := exchange()
	if status != http.StatusOK {
		t.Fatalf("exchanging the code: %d %v", status, tokens)
	}
	idToken, _ := tokens["id_token"].(string)
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", idToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	groups, _ := claims["groups"].([]any)
	if claims["preferred_username"] != "alice" || claims["email"] != "alice@example.com" || claims["email_verified"] != true ||
		!slices.Equal(groups, []any{"ops"}) || claims["aud"] == nil || claims["iss"] != s.Issuer(realmName) {
		t.Errorf("ID token claims %v", claims)
	}
	if status, out := exchange(); status == http.StatusOK {
		t.Errorf("the code was exchanged twice: %v", out)
	}
}
