package keycloaktest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// pathLogin is the login form of the authorization code flow, where Keycloak has it.
const pathLogin = "login-actions/authenticate"

// maxAuthRequests bounds the sign-ins in progress of a realm, so a client that starts
// logins and never finishes them cannot grow the fake without limit.
const maxAuthRequests = 1000

// User is a realm's user for the authorization code flow: Username and Password sign
// in; Email and Groups (group names, as a group membership mapper without full paths
// puts them) go into the ID token when the client asks for the email and groups scopes.
type User struct {
	Username, Password, Email string
	Groups                    []string
}

type user struct {
	id string
	User
}

// AddUser creates a user in a realm, as the admin console would, and returns its id.
func (s *Server) AddUser(realm string, u User) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rlm := s.realms[realm]
	if rlm == nil {
		return "", fmt.Errorf("no realm %s", realm)
	}
	for _, other := range rlm.users {
		if other.Username == u.Username {
			return "", fmt.Errorf("user %s exists in realm %s", u.Username, realm)
		}
	}
	id := newID()
	u.Groups = slices.Clone(u.Groups)
	rlm.users[id] = &user{id: id, User: u}
	return id, nil
}

// authRequest is one sign-in of the authorization code flow, from the authorization
// endpoint to the code's exchange.
type authRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string // the user's id once signed in
	authTime time.Time
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string         { return a.id }
func (a *authRequest) GetACR() string        { return "" }
func (a *authRequest) GetAMR() []string      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.authTime
}
func (a *authRequest) GetClientID() string { return a.req.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.subject != "" }

func (st *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if len(st.realm.authRequests) >= maxAuthRequests {
		return nil, oidc.ErrServerError().WithDescription("too many sign-ins in progress")
	}
	a := &authRequest{id: newID(), req: *req}
	st.realm.authRequests[a.id] = a
	return a, nil
}

func (st *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	a := st.realm.authRequests[id]
	if a == nil {
		return nil, errors.New("auth request not found")
	}
	return a, nil
}

func (st *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	a := st.realm.authRequests[st.realm.codes[code]]
	if a == nil {
		return nil, errors.New("code not found")
	}
	return a, nil
}

func (st *storage) SaveAuthCode(_ context.Context, id, code string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.realm.authRequests[id] == nil {
		return errors.New("auth request not found")
	}
	st.realm.codes[code] = id
	return nil
}

// DeleteAuthRequest ends a sign-in once its code is exchanged: a code is used once.
func (st *storage) DeleteAuthRequest(_ context.Context, id string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	delete(st.realm.authRequests, id)
	for code, of := range st.realm.codes {
		if of == id {
			delete(st.realm.codes, code)
		}
	}
	return nil
}

// SetUserinfoFromScopes fills an ID token's claims as Keycloak's default client scopes
// (profile, email) and a groups mapper do.
func (st *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, scopes []string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	u := st.realm.users[userID]
	if u == nil {
		return nil
	}
	info.Subject = u.id
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.PreferredUsername = u.Username
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.Email != "")
		case "groups":
			info.AppendClaims("groups", append([]string{}, u.Groups...))
		}
	}
	return nil
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to {{.Realm}}</title></head>
<body>
<h1 id="kc-page-title">Sign in to your account</h1>
{{if .Error}}<span id="input-error" role="alert">{{.Error}}</span>{{end}}
<form id="kc-form-login" action="{{.Action}}" method="post">
<label for="username">Username or email</label> <input id="username" name="username" autocomplete="username" autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<input type="submit" id="kc-login" name="login" value="Sign In">
</form>
</body></html>`))

// login is the realm's login form: it signs a user in to a pending auth request
// (tab_id) and sends the browser back to the provider, which issues the code.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	rlm := s.realms[r.PathValue("realm")]
	if rlm == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.Form.Get("tab_id")
	s.mu.Lock()
	a := rlm.authRequests[id]
	s.mu.Unlock()
	if a == nil {
		http.Error(w, "Your login attempt timed out. Login will start from the beginning.", http.StatusBadRequest)
		return
	}
	data := struct{ Realm, Action, Error string }{Realm: rlm.name, Action: s.Issuer(rlm.name) + "/" + pathLogin + "?tab_id=" + url.QueryEscape(id)}
	if r.Method == http.MethodPost {
		if s.signIn(rlm, a, r.PostForm.Get("username"), r.PostForm.Get("password")) {
			ctx := op.ContextWithIssuer(r.Context(), s.Issuer(rlm.name))
			http.Redirect(w, r, op.AuthCallbackURL(rlm.provider)(ctx, id), http.StatusFound)
			return
		}
		data.Error = "Invalid username or password."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, data)
}

// signIn checks a user's password and, when it matches, marks the auth request done.
func (s *Server) signIn(rlm *realm, a *authRequest, username, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range rlm.users {
		if u.Username == username && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
			a.subject, a.authTime = u.id, time.Now()
			return true
		}
	}
	return false
}

// AddWebClient registers a confidential client of the authorization code flow, as an
// admin registers a web application in the console, and returns its secret.
func (s *Server) AddWebClient(realm, clientID string, redirectURIs ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rlm := s.realms[realm]
	if rlm == nil {
		return "", fmt.Errorf("no realm %s", realm)
	}
	if rlm.clientByClientID(clientID) != nil {
		return "", fmt.Errorf("client %s exists in realm %s", clientID, realm)
	}
	uris := make([]any, len(redirectURIs))
	for i, u := range redirectURIs {
		uris[i] = u
	}
	id, secret := newID(), newSecret(32)
	rlm.clients[id] = &client{rep: map[string]any{
		"id": id, "clientId": clientID, "enabled": true, "protocol": "openid-connect", "publicClient": false,
		"standardFlowEnabled": true, "clientAuthenticatorType": "client-secret", "secret": secret,
		"redirectUris": uris, "attributes": map[string]any{},
	}, serviceAccount: newID()}
	return secret, nil
}
