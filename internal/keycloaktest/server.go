package keycloaktest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// Options configure a fake Keycloak.
type Options struct {
	// AdminUsername and AdminPassword of the master realm; "admin" and "admin-password"
	// when empty.
	AdminUsername, AdminPassword string
	// Realms that exist besides master; ["kagenti"] when empty.
	Realms []string
	// AdminTokenLifetime of master-realm admin tokens; 60s (Keycloak's default) when zero.
	AdminTokenLifetime time.Duration
	// AccessTokenLifetime of the realms' access tokens; 5 minutes when zero.
	AccessTokenLifetime time.Duration
}

func (o *Options) defaults() {
	if o.AdminUsername == "" {
		o.AdminUsername = "admin"
	}
	if o.AdminPassword == "" {
		o.AdminPassword = "admin-password"
	}
	if len(o.Realms) == 0 {
		o.Realms = []string{"kagenti"}
	}
	if o.AdminTokenLifetime == 0 {
		o.AdminTokenLifetime = 60 * time.Second
	}
	if o.AccessTokenLifetime == 0 {
		o.AccessTokenLifetime = 5 * time.Minute
	}
}

// Server is a running fake Keycloak.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port>, as Keycloak's would be.
	URL  string
	opts Options
	srv  *httptest.Server

	mu          sync.Mutex
	down        bool
	failures    map[string]int // pattern -> requests still to fail
	counts      map[string]int // pattern -> requests served
	logins      int
	adminTokens map[string]time.Time
	realms      map[string]*realm
	// issued are the credentials the server handed out (tokens, client secrets), for a
	// test's scan of what the system under test reported; bounded by maxIssued.
	issued []string
}

// maxIssued bounds Issued's memory over a long test.
const maxIssued = 100000

// credentialFields are the JSON members of the server's answers that carry a credential.
var credentialFields = []string{"access_token", "refresh_token", "id_token", "secret", "value"}

// Issued returns every token and client secret the server has answered with.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// recordIssued keeps the credentials of one JSON answer.
func (s *Server) recordIssued(body []byte) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range credentialFields {
		if v, ok := m[f].(string); ok && v != "" && len(s.issued) < maxIssued {
			s.issued = append(s.issued, v)
		}
	}
}

// recorder passes an answer through and keeps its body, bounded, for recordIssued.
type recorder struct {
	http.ResponseWriter
	body []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	if len(r.body) < 1<<20 {
		r.body = append(r.body, b...)
	}
	return r.ResponseWriter.Write(b)
}

// realm holds one realm's state. Representations are kept as JSON objects so fields
// the fake does not interpret survive a round trip, as they do in Keycloak.
type realm struct {
	name           string
	clients        map[string]*client // by internal id
	scopes         map[string]*scope  // by id
	defaultDefault []string           // scope ids
	provider       *op.Provider
	key            signingKey
	users          map[string]*user        // by id
	authRequests   map[string]*authRequest // by id
	codes          map[string]string       // authorization code -> auth request id
}

type client struct {
	rep           map[string]any
	defaultScopes []string // scope ids
	// serviceAccount is the id of the client's service-account user, the subject of its
	// client_credentials tokens.
	serviceAccount string
}

type scope struct {
	rep     map[string]any // without protocolMappers
	mappers []map[string]any
}

// Start starts a fake Keycloak on 127.0.0.1.
func Start(o Options) (*Server, error) {
	o.defaults()
	s := &Server{
		opts:        o,
		failures:    map[string]int{},
		counts:      map[string]int{},
		adminTokens: map[string]time.Time{},
		realms:      map[string]*realm{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.srv = httptest.NewUnstartedServer(s.routes())
	_ = s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL
	for _, name := range o.Realms {
		if name == "master" {
			continue
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			s.srv.Close()
			return nil, err
		}
		r := &realm{
			name: name, clients: map[string]*client{}, scopes: map[string]*scope{}, key: signingKey{id: newID(), key: key},
			users: map[string]*user{}, authRequests: map[string]*authRequest{}, codes: map[string]string{},
		}
		r.provider, err = newProvider(s, r)
		if err != nil {
			s.srv.Close()
			return nil, fmt.Errorf("realm %s: %w", name, err)
		}
		s.realms[name] = r
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Issuer is the OIDC issuer of a realm, as Keycloak names it.
func (s *Server) Issuer(realm string) string { return s.URL + "/realms/" + realm }

// AdminUsername and AdminPassword are the master realm's admin credentials.
func (s *Server) AdminUsername() string { return s.opts.AdminUsername }

// AdminPassword is the admin's password.
func (s *Server) AdminPassword() string { return s.opts.AdminPassword }

// Down makes every request answer 503 Service Unavailable while down is true.
func (s *Server) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// RevokeAdminTokens invalidates every admin token handed out, as a Keycloak restart
// does: the admin API answers 401 until the caller logs in again.
func (s *Server) RevokeAdminTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.adminTokens)
}

// Fail makes the next n requests that match a route pattern (as Count names it) answer
// 503, e.g. to break a registration half-way.
func (s *Server) Fail(pattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[pattern] = n
}

// Count is how many requests a route pattern answered (not counting injected faults),
// e.g. "PUT /admin/realms/{realm}/clients/{id}".
func (s *Server) Count(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[pattern]
}

// Logins is how many admin logins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Route patterns of the admin API and the token endpoints, for Count and Fail.
const (
	RouteAdminLogin        = "POST /realms/master/protocol/openid-connect/token"
	RouteCreateClient      = "POST /admin/realms/{realm}/clients"
	RouteListClients       = "GET /admin/realms/{realm}/clients"
	RouteGetClient         = "GET /admin/realms/{realm}/clients/{id}"
	RouteUpdateClient      = "PUT /admin/realms/{realm}/clients/{id}"
	RouteDeleteClient      = "DELETE /admin/realms/{realm}/clients/{id}"
	RouteGetSecret         = "GET /admin/realms/{realm}/clients/{id}/client-secret"
	RouteRegenerateSecret  = "POST /admin/realms/{realm}/clients/{id}/client-secret"
	RouteClientScopes      = "GET /admin/realms/{realm}/clients/{id}/default-client-scopes"
	RouteAddClientScope    = "PUT /admin/realms/{realm}/clients/{id}/default-client-scopes/{scope}"
	RouteRemoveClientScope = "DELETE /admin/realms/{realm}/clients/{id}/default-client-scopes/{scope}"
	RouteCreateScope       = "POST /admin/realms/{realm}/client-scopes"
	RouteListScopes        = "GET /admin/realms/{realm}/client-scopes"
	RouteGetScope          = "GET /admin/realms/{realm}/client-scopes/{scope}"
	RouteUpdateScope       = "PUT /admin/realms/{realm}/client-scopes/{scope}"
	RouteDeleteScope       = "DELETE /admin/realms/{realm}/client-scopes/{scope}"
	RouteCreateMapper      = "POST /admin/realms/{realm}/client-scopes/{scope}/protocol-mappers/models"
	RouteListMappers       = "GET /admin/realms/{realm}/client-scopes/{scope}/protocol-mappers/models"
	RouteGetMapper         = "GET /admin/realms/{realm}/client-scopes/{scope}/protocol-mappers/models/{mapper}"
	RouteUpdateMapper      = "PUT /admin/realms/{realm}/client-scopes/{scope}/protocol-mappers/models/{mapper}"
	RouteDeleteMapper      = "DELETE /admin/realms/{realm}/client-scopes/{scope}/protocol-mappers/models/{mapper}"
	RouteDefaultDefaults   = "GET /admin/realms/{realm}/default-default-client-scopes"
	RouteAddDefaultDefault = "PUT /admin/realms/{realm}/default-default-client-scopes/{scope}"
	RouteDelDefaultDefault = "DELETE /admin/realms/{realm}/default-default-client-scopes/{scope}"
	RouteRealm             = "/realms/{realm}/"
	RouteLogin             = "/realms/{realm}/" + pathLogin
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	admin := map[string]func(http.ResponseWriter, *http.Request, *realm){
		RouteCreateClient: s.createClient, RouteListClients: s.listClients, RouteGetClient: s.getClient,
		RouteUpdateClient: s.updateClient, RouteDeleteClient: s.deleteClient,
		RouteGetSecret: s.getSecret, RouteRegenerateSecret: s.regenerateSecret,
		RouteClientScopes: s.clientScopes, RouteAddClientScope: s.addClientScope, RouteRemoveClientScope: s.removeClientScope,
		RouteCreateScope: s.createScope, RouteListScopes: s.listScopes, RouteGetScope: s.getScope,
		RouteUpdateScope: s.updateScope, RouteDeleteScope: s.deleteScope,
		RouteCreateMapper: s.createMapper, RouteListMappers: s.listMappers, RouteGetMapper: s.getMapper,
		RouteUpdateMapper: s.updateMapper, RouteDeleteMapper: s.deleteMapper,
		RouteDefaultDefaults: s.defaultDefaults, RouteAddDefaultDefault: s.addDefaultDefault, RouteDelDefaultDefault: s.removeDefaultDefault,
	}
	for pattern, h := range admin {
		mux.Handle(pattern, s.gate(pattern, s.adminAPI(h)))
	}
	mux.Handle(RouteAdminLogin, s.gate(RouteAdminLogin, http.HandlerFunc(s.adminLogin)))
	mux.Handle(RouteLogin, s.gate(RouteLogin, http.HandlerFunc(s.login)))
	mux.Handle(RouteRealm, s.gate(RouteRealm, http.HandlerFunc(s.realmEndpoint)))
	return mux
}

// gate answers 503 when the server is down or a fault is due, and counts the rest.
func (s *Server) gate(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fail := s.down
		if !fail && s.failures[pattern] > 0 {
			s.failures[pattern]--
			fail = true
		}
		if !fail {
			s.counts[pattern]++
		}
		s.mu.Unlock()
		if fail {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Service Unavailable"})
			return
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.recordIssued(rec.body)
	})
}

// adminLogin is the master realm's token endpoint: the password grant of admin-cli.
func (s *Server) adminLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "password" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
		return
	}
	if r.PostForm.Get("client_id") != "admin-cli" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("username")), []byte(s.opts.AdminUsername)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(s.opts.AdminPassword)) == 1
	if !userOK || !passOK {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant", "error_description": "Invalid user credentials"})
		return
	}
	token := newSecret(40)
	s.mu.Lock()
	s.logins++
	s.adminTokens[token] = time.Now().Add(s.opts.AdminTokenLifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       token,
		"expires_in":         int(s.opts.AdminTokenLifetime.Seconds()),
		"refresh_expires_in": 1800,
		"refresh_token":      newSecret(40),
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"session_state":      newID(),
		"scope":              "profile email",
	})
}

// adminAPI checks the admin bearer token and finds the realm.
func (s *Server) adminAPI(h func(http.ResponseWriter, *http.Request, *realm)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		defer s.mu.Unlock()
		if exp, known := s.adminTokens[token]; !ok || !known || time.Now().After(exp) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
			return
		}
		rlm := s.realms[r.PathValue("realm")]
		if rlm == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
			return
		}
		h(w, r, rlm)
	})
}

// realmEndpoint serves a realm's OpenID provider.
func (s *Server) realmEndpoint(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("realm")
	rlm := s.realms[name] // fixed after Start
	if rlm == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/"+pathToken) {
		if err := postCredentialsToBasic(r); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
			return
		}
	}
	http.StripPrefix("/realms/"+name, rlm.provider).ServeHTTP(w, r)
}

// maxTokenForm bounds a token request's form.
const maxTokenForm = 1 << 20

// postCredentialsToBasic moves client_secret_post credentials of a token exchange
// (client_id and client_secret in the form, as AuthBridge sends them and Keycloak
// accepts) into the Basic header: the OpenID provider library reads a token
// exchange's client only from there.
func postCredentialsToBasic(r *http.Request) error {
	if _, _, basic := r.BasicAuth(); basic {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenForm+1))
	if err != nil {
		return err
	}
	if len(body) > maxTokenForm {
		return fmt.Errorf("form over %d bytes", maxTokenForm)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("form: %w", err)
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if form.Get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange" && id != "" && secret != "" {
		form.Del("client_id")
		form.Del("client_secret")
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		body = []byte(form.Encode())
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// newID returns a random UUID (version 4), as Keycloak's ids are.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newSecret returns n random alphanumerics, as Keycloak's generated client secrets are.
func newSecret(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
