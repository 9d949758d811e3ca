package keycloak

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Nerzal/gocloak/v13"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/security/agentid"
)

// Registration is an agent's client as registered.
type Registration struct {
	ClientID string
	// ClientSecret is empty for federated-jwt clients.
	ClientSecret string
	// Created says the client did not exist before.
	Created bool
	// Corrected lists what had drifted and was put right (client fields, the audience
	// scope or mapper, scope links), empty when nothing had.
	Corrected []string
}

// Registrar registers agents as confidential OAuth2 clients in Keycloak through its
// admin REST API.
type Registrar struct {
	opts    Options
	kc      *gocloak.GoCloak
	secrets client.Reader
	now     func() time.Time

	mu      sync.Mutex // guards the admin token; held while logging in, so one login serves all
	token   string
	renewAt time.Time
}

// NewRegistrar returns a Registrar. secrets reads the admin Secret; an uncached reader
// (the manager's APIReader) keeps trustsync from caching every Secret of the cluster.
func NewRegistrar(o Options, secrets client.Reader) (*Registrar, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	kc := gocloak.NewClient(o.URL)
	kc.RestyClient().SetTimeout(o.RequestTimeout)
	return &Registrar{opts: o, kc: kc, secrets: secrets, now: time.Now}, nil
}

// Options returns the options in effect, defaults applied.
func (r *Registrar) Options() Options { return r.opts }

// adminCredentials reads the admin Secret.
func (r *Registrar) adminCredentials(ctx context.Context) (string, string, error) {
	ref := r.opts.AdminSecret.String()
	s := &corev1.Secret{}
	if err := r.secrets.Get(ctx, r.opts.AdminSecret, s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", errorf(ReasonAdminCredentials, "reading admin Secret", ref, "not found")
		}
		return "", "", &Error{Reason: ReasonAdminCredentials, Op: "reading admin Secret", Object: ref, Err: err}
	}
	user, pass := string(s.Data[r.opts.AdminUsernameKey]), string(s.Data[r.opts.AdminPasswordKey])
	for key, v := range map[string]string{r.opts.AdminUsernameKey: user, r.opts.AdminPasswordKey: pass} {
		if v == "" {
			return "", "", errorf(ReasonAdminCredentials, "reading admin Secret", ref, "key %s is missing or empty", key)
		}
	}
	return user, pass, nil
}

// adminToken returns a cached admin token, logging in when it is near expiry.
func (r *Registrar) adminToken(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.token != "" && r.now().Before(r.renewAt) {
		return r.token, nil
	}
	user, pass, err := r.adminCredentials(ctx)
	if err != nil {
		return "", err
	}
	jwt, err := r.kc.LoginAdmin(ctx, user, pass, r.opts.AdminRealm)
	if err != nil {
		reason := ReasonAdminLoginFailed
		if code := statusOf(err); code == 0 || code >= 500 {
			reason = ReasonKeycloakUnavailable
		}
		// Not wrapped: the message is all that leaves here, scrubbed.
		return "", &Error{Reason: reason, Op: "admin login as", Object: user + " in realm " + r.opts.AdminRealm, Err: errors.New(scrub(err.Error(), pass))}
	}
	lifetime := time.Duration(jwt.ExpiresIn) * time.Second
	margin := min(r.opts.TokenExpiryMargin, lifetime/2)
	r.token, r.renewAt = jwt.AccessToken, r.now().Add(lifetime-margin)
	return r.token, nil
}

// forgetToken drops a token Keycloak refused (revoked, or Keycloak restarted).
func (r *Registrar) forgetToken(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.token == token {
		r.token = ""
	}
}

// admin runs calls with an admin token, once more with a fresh token when Keycloak
// answers 401.
func (r *Registrar) admin(ctx context.Context, calls func(token string) error) error {
	token, err := r.adminToken(ctx)
	if err != nil {
		return err
	}
	err = calls(token)
	if statusOf(err) != http.StatusUnauthorized {
		return err
	}
	r.forgetToken(token)
	if token, err = r.adminToken(ctx); err != nil {
		return err
	}
	return calls(token)
}

// Ensure registers an agent, or corrects its registration where it drifted, and
// returns its credentials. It is idempotent: a registration broken off half-way is
// completed by the next call.
func (r *Registrar) Ensure(ctx context.Context, a Agent) (*Registration, error) {
	if a.ClientID == "" || a.Namespace == "" || a.Workload == "" {
		return nil, errorf(ReasonRegistrationFailed, "registering", a.String(), "namespace, workload and client ID are required")
	}
	var reg *Registration
	err := r.admin(ctx, func(token string) error {
		var err error
		reg, err = r.ensure(ctx, token, a)
		return err
	})
	return reg, err
}

func (r *Registrar) ensure(ctx context.Context, token string, a Agent) (*Registration, error) {
	realm := r.opts.Realm
	reg := &Registration{ClientID: a.ClientID}
	want := DesiredClient(a, r.opts)

	live, err := r.findClient(ctx, token, a.ClientID)
	if err != nil {
		return nil, err
	}
	var id string
	if live == nil {
		id, err = r.kc.CreateClient(ctx, token, realm, want)
		if statusOf(err) == http.StatusConflict {
			// Created meanwhile (another replica, or a lost response): correct it instead.
			live, err = r.findClient(ctx, token, a.ClientID)
		}
		if err != nil {
			return nil, classify(err, "creating client", a.ClientID)
		}
		reg.Created = live == nil
	}
	if live != nil {
		id = gocloak.PString(live.ID)
		if drift := Drift(live, want); len(drift) > 0 {
			if err := r.kc.UpdateClient(ctx, token, realm, corrected(*live, want)); err != nil {
				return nil, classify(err, "correcting client", a.ClientID)
			}
			reg.Corrected = append(reg.Corrected, drift...)
		}
	}
	if id == "" {
		return nil, errorf(ReasonRegistrationFailed, "creating client", a.ClientID, "Keycloak returned no client id")
	}

	scopeID, fixed, err := r.ensureAudienceScope(ctx, token, a)
	if err != nil {
		return nil, err
	}
	reg.Corrected = append(reg.Corrected, fixed...)
	fixed, err = r.linkScope(ctx, token, a, id, scopeID)
	if err != nil {
		return nil, err
	}
	if !reg.Created {
		reg.Corrected = append(reg.Corrected, fixed...)
	}

	if r.opts.ClientAuthType == AuthClientSecret {
		cred, err := r.kc.GetClientSecret(ctx, token, realm, id)
		if err != nil {
			return nil, classify(err, "reading the secret of client", a.ClientID)
		}
		if gocloak.PString(cred.Value) == "" {
			if cred, err = r.kc.RegenerateClientSecret(ctx, token, realm, id); err != nil {
				return nil, classify(err, "generating the secret of client", a.ClientID)
			}
		}
		reg.ClientSecret = gocloak.PString(cred.Value)
		if reg.ClientSecret == "" {
			return nil, errorf(ReasonRegistrationFailed, "reading the secret of client", a.ClientID, "Keycloak returned an empty secret")
		}
	}
	return reg, nil
}

// findClient looks a client up by client ID; nil when there is none.
func (r *Registrar) findClient(ctx context.Context, token, clientID string) (*gocloak.Client, error) {
	list, err := r.kc.GetClients(ctx, token, r.opts.Realm, gocloak.GetClientsParams{ClientID: &clientID})
	if err != nil {
		return nil, classify(err, "looking up client", clientID)
	}
	for _, c := range list {
		if gocloak.PString(c.ClientID) == clientID { // ?clientId= is exact, but be sure
			return c, nil
		}
	}
	return nil, nil
}

func (r *Registrar) findScope(ctx context.Context, token, name string) (*gocloak.ClientScope, error) {
	scopes, err := r.kc.GetClientScopes(ctx, token, r.opts.Realm)
	if err != nil {
		return nil, classify(err, "listing client scopes for", name)
	}
	for _, s := range scopes {
		if gocloak.PString(s.Name) == name {
			return s, nil
		}
	}
	return nil, nil
}

// ensureAudienceScope creates or corrects the agent's audience scope and its mapper and
// returns the scope's id and what it corrected.
func (r *Registrar) ensureAudienceScope(ctx context.Context, token string, a Agent) (string, []string, error) {
	realm := r.opts.Realm
	want := DesiredAudienceScope(a)
	name := gocloak.PString(want.Name)
	var corrections []string
	live, err := r.findScope(ctx, token, name)
	if err != nil {
		return "", nil, err
	}
	var id string
	if live == nil {
		id, err = r.kc.CreateClientScope(ctx, token, realm, want)
		if statusOf(err) == http.StatusConflict {
			live, err = r.findScope(ctx, token, name)
		}
		if err != nil {
			return "", nil, classify(err, "creating client scope", name)
		}
	}
	if live != nil {
		id = gocloak.PString(live.ID)
		cmp := *live
		cmp.ProtocolMappers = nil
		if drift := Drift(cmp, want); len(drift) > 0 {
			if err := r.kc.UpdateClientScope(ctx, token, realm, corrected(cmp, want)); err != nil {
				return "", nil, classify(err, "correcting client scope", name)
			}
			for _, f := range drift {
				corrections = append(corrections, "clientScope."+f)
			}
		}
	}
	if id == "" {
		return "", nil, errorf(ReasonRegistrationFailed, "creating client scope", name, "Keycloak returned no id")
	}

	wantMapper := DesiredAudienceMapper(a)
	mappers, err := r.kc.GetClientScopeProtocolMappers(ctx, token, realm, id)
	if err != nil {
		return "", nil, classify(err, "listing the mappers of client scope", name)
	}
	var liveMapper *gocloak.ProtocolMappers
	for _, m := range mappers {
		if gocloak.PString(m.Name) == audienceMapperName {
			liveMapper = m
		}
	}
	switch {
	case liveMapper == nil:
		if _, err := r.kc.CreateClientScopeProtocolMapper(ctx, token, realm, id, wantMapper); err != nil {
			return "", nil, classify(err, "creating the audience mapper of client scope", name)
		}
		if live != nil {
			corrections = append(corrections, "clientScope.protocolMappers."+audienceMapperName)
		}
	default:
		if drift := Drift(liveMapper, wantMapper); len(drift) > 0 {
			if err := r.kc.UpdateClientScopeProtocolMapper(ctx, token, realm, id, corrected(*liveMapper, wantMapper)); err != nil {
				return "", nil, classify(err, "correcting the audience mapper of client scope", name)
			}
			for _, f := range drift {
				corrections = append(corrections, "clientScope.protocolMappers."+audienceMapperName+"."+f)
			}
		}
	}
	return id, corrections, nil
}

// linkScope makes the audience scope a default scope of the agent's client, of the
// realm (for clients created later) and of each platform client that exists.
func (r *Registrar) linkScope(ctx context.Context, token string, a Agent, clientUUID, scopeID string) ([]string, error) {
	realm := r.opts.Realm
	name := agentid.AudienceScopeName(a.Namespace, a.Workload)
	var corrections []string
	has := func(scopes []*gocloak.ClientScope) bool {
		return slices.ContainsFunc(scopes, func(s *gocloak.ClientScope) bool { return gocloak.PString(s.ID) == scopeID })
	}

	scopes, err := r.kc.GetClientsDefaultScopes(ctx, token, realm, clientUUID)
	if err != nil {
		return nil, classify(err, "listing the default scopes of client", a.ClientID)
	}
	if !has(scopes) {
		if err := r.kc.AddDefaultScopeToClient(ctx, token, realm, clientUUID, scopeID); err != nil {
			return nil, classify(err, "adding scope "+name+" to client", a.ClientID)
		}
		corrections = append(corrections, "defaultClientScopes."+name)
	}

	realmScopes, err := r.kc.GetDefaultDefaultClientScopes(ctx, token, realm)
	if err != nil {
		return nil, classify(err, "listing the default client scopes of realm", realm)
	}
	if !has(realmScopes) {
		// gocloak v13.9.0 has no call for this; the endpoint is Keycloak's
		// PUT /admin/realms/{realm}/default-default-client-scopes/{id}.
		resp, err := r.kc.GetRequestWithBearerAuth(ctx, token).Put(r.adminURL("default-default-client-scopes", scopeID))
		if err == nil && resp.IsError() {
			err = &gocloak.APIError{Code: resp.StatusCode(), Message: resp.Status()}
		}
		if err != nil {
			return nil, classify(err, "making scope "+name+" a default scope of realm", realm)
		}
		corrections = append(corrections, "realmDefaultClientScopes."+name)
	}

	for _, pid := range r.opts.PlatformClientIDs {
		pc, err := r.findClient(ctx, token, pid)
		if err != nil {
			return nil, err
		}
		if pc == nil {
			continue // no such platform client in this realm: nothing to attach to
		}
		scopes, err := r.kc.GetClientsDefaultScopes(ctx, token, realm, gocloak.PString(pc.ID))
		if err != nil {
			return nil, classify(err, "listing the default scopes of platform client", pid)
		}
		if !has(scopes) {
			if err := r.kc.AddDefaultScopeToClient(ctx, token, realm, gocloak.PString(pc.ID), scopeID); err != nil {
				return nil, classify(err, "adding scope "+name+" to platform client", pid)
			}
			corrections = append(corrections, "platformClient."+pid+"."+name)
		}
	}
	return corrections, nil
}

func (r *Registrar) adminURL(path ...string) string {
	return strings.TrimRight(r.opts.URL, "/") + "/admin/realms/" + r.opts.Realm + "/" + strings.Join(path, "/")
}

// Delete removes an agent's client and its audience scope (and so the scope's links to
// the realm and the platform clients). What is already gone is not an error.
func (r *Registrar) Delete(ctx context.Context, a Agent) error {
	return r.admin(ctx, func(token string) error {
		if err := r.deleteClient(ctx, token, a.ClientID); err != nil {
			return err
		}
		name := agentid.AudienceScopeName(a.Namespace, a.Workload)
		s, err := r.findScope(ctx, token, name)
		if err != nil || s == nil {
			return err
		}
		id := gocloak.PString(s.ID)
		// Unlink first: Keycloak versions that refuse to delete a scope in use get none.
		resp, err := r.kc.GetRequestWithBearerAuth(ctx, token).Delete(r.adminURL("default-default-client-scopes", id))
		if err == nil && resp.IsError() && resp.StatusCode() != http.StatusNotFound {
			err = &gocloak.APIError{Code: resp.StatusCode(), Message: resp.Status()}
		}
		if err != nil {
			return classify(err, "removing scope "+name+" from the defaults of realm", r.opts.Realm)
		}
		for _, pid := range r.opts.PlatformClientIDs {
			pc, err := r.findClient(ctx, token, pid)
			if err != nil {
				return err
			}
			if pc != nil {
				if err := r.kc.RemoveDefaultScopeFromClient(ctx, token, r.opts.Realm, gocloak.PString(pc.ID), id); err != nil && !isNotFound(err) {
					return classify(err, "removing scope "+name+" from platform client", pid)
				}
			}
		}
		if err := r.kc.DeleteClientScope(ctx, token, r.opts.Realm, id); err != nil && !isNotFound(err) {
			return classify(err, "deleting client scope", name)
		}
		return nil
	})
}

// DeleteClient removes one client by client ID, e.g. one an agent no longer uses since
// its ServiceAccount changed. A missing client is not an error.
func (r *Registrar) DeleteClient(ctx context.Context, clientID string) error {
	return r.admin(ctx, func(token string) error { return r.deleteClient(ctx, token, clientID) })
}

func (r *Registrar) deleteClient(ctx context.Context, token, clientID string) error {
	c, err := r.findClient(ctx, token, clientID)
	if err != nil || c == nil {
		return err
	}
	if err := r.kc.DeleteClient(ctx, token, r.opts.Realm, gocloak.PString(c.ID)); err != nil && !isNotFound(err) {
		return classify(err, "deleting client", clientID)
	}
	return nil
}
