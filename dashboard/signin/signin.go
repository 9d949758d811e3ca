package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Paths the sign-in serves below the dashboard's URL.
const (
	PathLogin    = "/auth/login"
	PathCallback = "/auth/callback"
	PathLogout   = "/auth/logout"
)

// Bounds on what a provider's ID token can put into a session.
const (
	MaxGroups     = 64
	MaxNameLength = 256
)

const sessionCookie = "trustsync_session"

// maxForm bounds the sign-out form: one CSRF token.
const maxForm = 4 << 10

// Options configure the sign-in. A zero field takes its default.
type Options struct {
	// Issuer is the OpenID provider, e.g. https://keycloak.example.com/realms/kagenti. It
	// must be https unless it is on loopback.
	Issuer string
	// ClientID and ClientSecret of the dashboard's confidential client at the provider.
	ClientID, ClientSecret string
	// URL is the dashboard's public URL; the provider sends users back to
	// URL+PathCallback, which the client must allow as a redirect URI.
	URL string
	// UsernameClaim names the user: "preferred_username" by default. "email" is taken
	// only with email_verified true, as kube-apiserver does.
	UsernameClaim string
	// GroupsClaim lists the user's groups: "groups" by default; absent means none.
	GroupsClaim string
	// Prefix goes before the username and every group, so that no name the provider
	// hands out can pass for a Kubernetes user or group ("system:masters"): "oidc:" by
	// default, "-" for none.
	Prefix string
	// Lifetime of a session; 8h by default. It is the session's own, not the ID
	// token's, whose expiry is often minutes.
	Lifetime time.Duration
	// HTTPClient talks to the provider; one with a 10s timeout by default.
	HTTPClient *http.Client
	// Now is the clock of sessions; time.Now by default.
	Now func() time.Time
	Log logr.Logger
}

// User is who signed in, as the session keeps it.
type User struct {
	// Name and Groups are what actions impersonate, prefixed.
	Name   string   `json:"n"`
	Groups []string `json:"g,omitempty"`
	// CSRF is the token every action's form must carry.
	CSRF string `json:"c"`
	// Expires is the session's end, in Unix seconds.
	Expires int64 `json:"e"`
}

// SignIn is the OpenID Connect sign-in of the dashboard.
type SignIn struct {
	opts    Options
	secure  bool
	state   *httphelper.CookieHandler // state and PKCE verifier, below /auth/
	session *httphelper.CookieHandler

	mu    sync.Mutex
	party rp.RelyingParty // discovered on first use, so a provider down at start delays only sign-ins
}

// New checks o and readies the sign-in; it does not reach the provider yet.
func New(o Options) (*SignIn, error) {
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("sign-in needs a client ID and a client secret")
	}
	issuer, err := url.Parse(o.Issuer)
	if err != nil || issuer.Host == "" {
		return nil, fmt.Errorf("sign-in issuer %q is not a URL", o.Issuer)
	}
	if issuer.Scheme != "https" && !(issuer.Scheme == "http" && loopback(issuer.Hostname())) {
		return nil, fmt.Errorf("sign-in issuer %s: https is required off loopback", o.Issuer)
	}
	public, err := url.Parse(o.URL)
	if err != nil || public.Host == "" || (public.Scheme != "https" && public.Scheme != "http") {
		return nil, fmt.Errorf("sign-in needs the dashboard's public URL, got %q", o.URL)
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.UsernameClaim == "" {
		o.UsernameClaim = "preferred_username"
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	switch o.Prefix {
	case "":
		o.Prefix = "oidc:"
	case "-":
		o.Prefix = ""
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 8 * time.Hour
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &SignIn{opts: o, secure: public.Scheme == "https"}
	cookieOpts := func(path string) []httphelper.CookieHandlerOpt {
		opts := []httphelper.CookieHandlerOpt{httphelper.WithPath(path), httphelper.WithSameSite(http.SameSiteLaxMode)}
		if !s.secure {
			opts = append(opts, httphelper.WithUnsecure())
		}
		return opts
	}
	// Keys live as long as the process: a restart signs everyone out, which is the
	// safe side for a page that can act on the cluster.
	s.state = httphelper.NewCookieHandler(randomBytes(32), randomBytes(32), cookieOpts("/auth/")...)
	s.session = httphelper.NewCookieHandler(randomBytes(32), randomBytes(32), cookieOpts("/")...)
	return s, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(24)) }

// Register serves the sign-in's paths on mux.
func (s *SignIn) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathLogin, s.login)
	mux.HandleFunc("GET "+PathCallback, s.callback)
	mux.HandleFunc("POST "+PathLogout, s.logout)
}

// User is the signed-in user of r, if its session is valid and unexpired.
func (s *SignIn) User(r *http.Request) (User, bool) {
	raw, err := s.session.CheckCookie(r, sessionCookie)
	if err != nil {
		return User{}, false
	}
	var u User
	if json.Unmarshal([]byte(raw), &u) != nil || u.Name == "" || u.CSRF == "" || s.opts.Now().Unix() >= u.Expires {
		return User{}, false
	}
	return u, true
}

// CSRF tells whether token is the CSRF token of u's session.
func CSRF(u User, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(u.CSRF), []byte(token)) == 1
}

// LoginURL is where a user goes to sign in and come back to next.
func LoginURL(next string) string { return PathLogin + "?" + url.Values{"next": {next}}.Encode() }

// relyingParty discovers the provider once it is reachable.
func (s *SignIn) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.party != nil {
		return s.party, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.HTTPClient.Timeout+time.Second)
	defer cancel()
	party, err := rp.NewRelyingPartyOIDC(ctx, s.opts.Issuer, s.opts.ClientID, s.opts.ClientSecret, s.opts.URL+PathCallback,
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, "groups"},
		rp.WithPKCE(s.state), rp.WithHTTPClient(s.opts.HTTPClient),
		rp.WithUnauthorizedHandler(func(w http.ResponseWriter, _ *http.Request, desc, _ string) {
			s.opts.Log.Info("a sign-in was refused", "reason", desc)
			failed(w, http.StatusUnauthorized, "The sign-in was refused. Start again from the dashboard.")
		}),
		rp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, errorType, desc, _ string) {
			s.opts.Log.Info("the identity provider refused a sign-in", "error", errorType, "description", desc)
			failed(w, http.StatusUnauthorized, "The identity provider refused the sign-in: "+errorType+".")
		}),
	)
	if err != nil {
		return nil, err
	}
	s.party = party
	return party, nil
}

func (s *SignIn) login(w http.ResponseWriter, r *http.Request) {
	party, err := s.relyingParty(r.Context())
	if err != nil {
		s.opts.Log.Error(err, "the identity provider is unreachable", "issuer", s.opts.Issuer)
		failed(w, http.StatusServiceUnavailable, "The identity provider at "+s.opts.Issuer+" is unreachable; try again later.")
		return
	}
	state := randomToken() + " " + localPath(r.URL.Query().Get("next"))
	rp.AuthURLHandler(func() string { return state }, party)(w, r)
}

// localPath is next if it is a path on this dashboard, and "/" otherwise, so a link
// cannot send a user who signed in to another site.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		u.Scheme != "" || u.Host != "" || len(next) > 2048 {
		return "/"
	}
	return next
}

func (s *SignIn) callback(w http.ResponseWriter, r *http.Request) {
	party, err := s.relyingParty(r.Context())
	if err != nil {
		failed(w, http.StatusServiceUnavailable, "The identity provider at "+s.opts.Issuer+" is unreachable; try again later.")
		return
	}
	rp.CodeExchangeHandler(func(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], state string, _ rp.RelyingParty) {
		u, err := s.userOf(tokens.IDTokenClaims)
		if err != nil {
			s.opts.Log.Info("a sign-in was refused", "reason", err.Error())
			failed(w, http.StatusForbidden, "Signed in, but "+err.Error()+".")
			return
		}
		raw, _ := json.Marshal(u)
		if err := s.session.SetCookie(w, sessionCookie, string(raw)); err != nil {
			failed(w, http.StatusForbidden, "Signed in, but the session does not fit in a cookie: too many groups.")
			return
		}
		s.opts.Log.Info("signed in", "user", u.Name, "groups", len(u.Groups))
		_, next, _ := strings.Cut(state, " ")
		http.Redirect(w, r, localPath(next), http.StatusSeeOther)
	}, party)(w, r)
}

// userOf makes a session of verified ID token claims.
func (s *SignIn) userOf(claims *oidc.IDTokenClaims) (User, error) {
	name, _ := claims.Claims[s.opts.UsernameClaim].(string)
	if name == "" || len(name) > MaxNameLength {
		return User{}, fmt.Errorf("the ID token has no usable %s claim", s.opts.UsernameClaim)
	}
	if s.opts.UsernameClaim == "email" {
		if verified, _ := claims.Claims["email_verified"].(bool); !verified {
			return User{}, errors.New("the ID token's email is not verified")
		}
	}
	u := User{Name: s.opts.Prefix + name, CSRF: randomToken(), Expires: s.opts.Now().Add(s.opts.Lifetime).Unix()}
	if raw := claims.Claims[s.opts.GroupsClaim]; raw != nil {
		groups, ok := raw.([]any)
		if !ok {
			return User{}, fmt.Errorf("the ID token's %s claim is not a list", s.opts.GroupsClaim)
		}
		if len(groups) > MaxGroups {
			return User{}, fmt.Errorf("the ID token lists %d groups, more than %d", len(groups), MaxGroups)
		}
		for _, g := range groups {
			name, ok := g.(string)
			if !ok || name == "" || len(name) > MaxNameLength {
				return User{}, fmt.Errorf("the ID token's %s claim holds a group that is not a name", s.opts.GroupsClaim)
			}
			u.Groups = append(u.Groups, s.opts.Prefix+name)
		}
	}
	return u, nil
}

func (s *SignIn) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if u, ok := s.User(r); ok {
		if !CSRF(u, r.PostFormValue("csrf")) {
			failed(w, http.StatusForbidden, "The sign-out form is stale; reload the page.")
			return
		}
		s.opts.Log.Info("signed out", "user", u.Name)
	}
	s.session.DeleteCookie(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

var failurePage = template.Must(template.New("failed").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in · trustsync</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><h1>Sign-in</h1><p role="alert">{{.}}</p><p><a href="/">Back to the dashboard</a></p></main></body></html>`))

func failed(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = failurePage.Execute(w, msg)
}
