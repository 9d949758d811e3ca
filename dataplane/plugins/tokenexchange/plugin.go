package tokenexchange

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	boundedfiles "github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/internal/tokencache"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Name is the plugin's name in config.yaml.
const Name = sidecarconfig.PluginTokenExchange

// Strategies of the delegation hops.
const (
	StrategyTokenExchange     = "token-exchange"
	StrategyClientCredentials = "client-credentials"
)

// Deny messages, as upstream writes them.
const (
	msgMissing = "missing Authorization header"
	msgFailed  = "token exchange failed"
)

// Options are what the plugin needs besides its config; zero fields take defaults.
type Options struct {
	// HTTPClient calls the token endpoints; default: its own transport without proxy,
	// 10 s timeout.
	HTTPClient *http.Client
	// ReadFile reads the routes and credential files; files.Read (bounded) when nil.
	ReadFile func(string) ([]byte, error)
	// Now is the clock of the caches and the delegation hops; time.Now when nil.
	Now func() time.Time
	// JWTSVIDs gives the client assertions; required for identity.type spiffe.
	JWTSVIDs JWTSVIDSource
	// AgentID is this workload's client ID, the actor of the delegation; optional.
	AgentID string
	// Registerer gets the plugin's metrics; none when nil.
	Registerer prometheus.Registerer
	// Log; discarded when zero.
	Log logr.Logger
}

// route is a compiled route; the default policy exchange is one for every host.
type route struct {
	host        *sidecarconfig.HostPattern
	passthrough bool
	audience    string
	scopes      string
	scopeList   []string // shared by the identities of its requests, never modified
	tokenURL    string
}

// Plugin is token-exchange. It is safe for concurrent use.
type Plugin struct {
	routes   []route
	fallback *route // default_policy exchange; nil for passthrough
	noToken  string
	idType   string
	// assertionType is the client_assertion_type of type spiffe.
	assertionType string
	clientID      string // given inline; else read from clientIDFile
	clientIDFile  string
	secretFile    string
	agentID       string

	readFile func(string) ([]byte, error)
	now      func() time.Time
	client   *http.Client
	svids    *svidCache
	log      logr.Logger
	metrics  *metrics
	cache    *tokencache.Cache[*issued]
	group    singleflight.Group
	creds    atomic.Pointer[credentials]
}

var (
	_ pipeline.RequestHandler = (*Plugin)(nil)
	_ pipeline.Readier        = (*Plugin)(nil)
	_ pipeline.Runner         = (*Plugin)(nil)
)

// New makes the plugin of a validated config (defaults applied). It reads the routes
// file and the credential files now; Run waits for missing credentials.
func New(cfg *sidecarconfig.TokenExchange, o Options) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("token-exchange: no config")
	}
	switch {
	case cfg.ResolvePlaceholders:
		return nil, errors.New("token-exchange: resolve_placeholders is not supported by this data plane")
	case cfg.AudienceFromHost:
		return nil, errors.New("token-exchange: audience_from_host is not supported by this data plane; give the audiences in routes")
	case cfg.TokenURL == "":
		return nil, errors.New("token-exchange: token_url is empty (the config was not validated)")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultHTTPClient()
	}
	if o.ReadFile == nil {
		o.ReadFile = boundedfiles.Read
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Plugin{
		noToken:      cfg.NoTokenPolicy,
		idType:       cfg.Identity.Type,
		clientID:     cfg.Identity.ClientID,
		clientIDFile: cfg.Identity.ClientIDFile,
		secretFile:   cfg.Identity.ClientSecretFile,
		agentID:      o.AgentID,
		readFile:     o.ReadFile,
		now:          o.Now,
		client:       o.HTTPClient,
		log:          o.Log.WithName(Name),
		cache:        tokencache.New[*issued](MaxCachedTokens),
	}
	switch p.noToken {
	case "":
		p.noToken = noTokenDeny
	case noTokenDeny, noTokenAllow, noTokenClientCredential:
	default:
		return nil, fmt.Errorf("token-exchange: no_token_policy %q is none of deny, allow, client-credentials", p.noToken)
	}
	switch p.idType {
	case identityTypeSecret:
		if p.secretFile == "" {
			return nil, errors.New("token-exchange: identity.client_secret_file is empty (the config was not validated)")
		}
	case identityTypeSPIFFE:
		if o.JWTSVIDs == nil {
			return nil, errors.New("token-exchange: identity.type spiffe needs a JWT-SVID source (Options.JWTSVIDs)")
		}
		if cfg.Identity.JWTAudience == "" {
			return nil, errors.New("token-exchange: identity.jwt_audience is required for type spiffe")
		}
		p.assertionType = assertionTypeJWTSPIFFE
		if cfg.Identity.AssertionType == "jwt-bearer" {
			p.assertionType = assertionTypeJWTBearer
		}
		p.svids = &svidCache{source: o.JWTSVIDs, audience: cfg.Identity.JWTAudience, now: o.Now}
	default:
		return nil, fmt.Errorf("token-exchange: identity.type %q is neither client-secret nor spiffe", p.idType)
	}
	if p.clientID == "" && p.clientIDFile == "" {
		return nil, errors.New("token-exchange: identity.client_id or client_id_file is required")
	}
	if err := p.compileRoutes(cfg); err != nil {
		return nil, err
	}
	if cfg.DefaultPolicy == sidecarconfig.ActionExchange {
		p.fallback = &route{tokenURL: cfg.TokenURL}
	}
	if _, err := p.loadCredentials(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	p.metrics = m
	return p, nil
}

// compileRoutes reads routes.file (missing = no routes), then the inline rules.
func (p *Plugin) compileRoutes(cfg *sidecarconfig.TokenExchange) error {
	var fromFile []sidecarconfig.Route
	if cfg.Routes.File != "" {
		data, err := p.readFile(cfg.Routes.File)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("token-exchange: routes file %s: %w", cfg.Routes.File, err)
		default:
			if fromFile, err = sidecarconfig.LoadRoutes(data); err != nil {
				return fmt.Errorf("token-exchange: routes file %s: %w", cfg.Routes.File, err)
			}
		}
	}
	all := fromFile
	for _, r := range cfg.Routes.Rules {
		action := r.Action
		if action == "" {
			action = sidecarconfig.ActionExchange
			if r.Passthrough {
				action = sidecarconfig.ActionPassthrough
			}
		}
		all = append(all, sidecarconfig.Route{Host: r.Host, TargetAudience: r.TargetAudience, TokenScopes: r.TokenScopes, TokenURL: r.TokenURL, Action: action})
	}
	for i, r := range all {
		hp, err := sidecarconfig.CompileHostPattern(r.Host)
		if err != nil {
			return fmt.Errorf("token-exchange: route %d (host %q): %w", i, r.Host, err)
		}
		rt := route{host: hp, passthrough: r.Action == sidecarconfig.ActionPassthrough, audience: r.TargetAudience,
			scopes: r.TokenScopes, scopeList: strings.Fields(r.TokenScopes), tokenURL: r.TokenURL}
		if rt.tokenURL == "" {
			rt.tokenURL = cfg.TokenURL
		}
		if _, err := url.Parse(rt.tokenURL); err != nil {
			return fmt.Errorf("token-exchange: route %d (host %q): token_url: %w", i, r.Host, err)
		}
		p.routes = append(p.routes, rt)
	}
	return nil
}

// loadCredentials reads the client ID and secret files; loaded is false while one is
// missing or empty.
func (p *Plugin) loadCredentials() (bool, error) {
	if p.creds.Load() != nil {
		return true, nil
	}
	c := credentials{clientID: p.clientID}
	if c.clientID == "" {
		v, ok, err := readCredential(p.readFile, p.clientIDFile)
		if err != nil || !ok {
			return false, err
		}
		c.clientID = v
	}
	if p.idType == identityTypeSecret {
		v, ok, err := readCredential(p.readFile, p.secretFile)
		if err != nil || !ok {
			return false, err
		}
		c.secret = v
	}
	p.creds.Store(&c)
	return true, nil
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return Name }

// Ready is nil once the client credentials are loaded.
func (p *Plugin) Ready() error {
	if p.creds.Load() != nil {
		return nil
	}
	if p.idType == identityTypeSecret {
		return fmt.Errorf("waiting for the client credentials (%s, %s)", orInline(p.clientIDFile, p.clientID), p.secretFile)
	}
	return fmt.Errorf("waiting for the client ID (%s)", p.clientIDFile)
}

func orInline(file, inline string) string {
	if inline != "" {
		return "client_id given inline"
	}
	return file
}

// Run waits for the credential files, polling every FilePollInterval, until they are
// there or ctx is done.
func (p *Plugin) Run(ctx context.Context) {
	if p.creds.Load() != nil {
		return
	}
	t := time.NewTicker(FilePollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, err := p.loadCredentials()
			if ok {
				return
			}
			if err != nil {
				p.log.Info("credential file unreadable; retrying", "error", err.Error())
			}
		}
	}
}

// match is the first route of the host, else the default policy's (nil: passthrough).
func (p *Plugin) match(host string) *route {
	for i := range p.routes {
		if p.routes[i].host.Match(host) {
			return &p.routes[i]
		}
	}
	return p.fallback
}

// OnRequest exchanges the bearer token of an outbound request for its destination.
func (p *Plugin) OnRequest(ctx context.Context, r *pipeline.Request) *pipeline.Deny {
	rt := p.match(r.Host)
	switch {
	case rt == nil:
		p.metrics.noRoute.Inc()
		return nil
	case rt.passthrough:
		p.metrics.passthrough.Inc()
		return nil
	}
	subject, ok := bearer(r.Header)
	if !ok {
		switch p.noToken {
		case noTokenAllow:
			p.metrics.passthrough.Inc()
			return nil
		case noTokenClientCredential:
			return p.obtain(ctx, r, rt, "")
		default:
			p.metrics.noTokenDenied.Inc()
			return pipeline.Denied(pipeline.CodeUnauthorized, msgMissing)
		}
	}
	return p.obtain(ctx, r, rt, subject)
}

// bearer is the token of `Authorization: Bearer <token>` (scheme case-insensitive).
func bearer(h http.Header) (string, bool) {
	v := h["Authorization"]
	if len(v) != 1 {
		return "", false
	}
	const scheme = "bearer "
	if len(v[0]) <= len(scheme) || !strings.EqualFold(v[0][:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimLeft(v[0][len(scheme):], " ")
	return t, t != ""
}

// obtain gets the route's token, from the cache or the endpoint, for subject (an
// exchange) or for none (client_credentials), and applies it to the request.
func (p *Plugin) obtain(ctx context.Context, r *pipeline.Request, rt *route, subject string) *pipeline.Deny {
	now := p.now()
	if len(subject) > MaxTokenBytes {
		return p.fail(rt, fmt.Errorf("the subject token is longer than %d bytes", MaxTokenBytes))
	}
	key := cacheKey(subject, rt.audience, rt.scopes, rt.tokenURL)
	if e := p.cache.Get(&key, now); e != nil {
		p.metrics.cacheHit.Inc()
		p.apply(r, rt, e, subject == "", true, now)
		return nil
	}
	e, err := p.miss(ctx, key, rt, subject)
	if err != nil {
		return p.fail(rt, err)
	}
	if subject == "" {
		p.metrics.clientCredentials.Inc()
	} else {
		p.metrics.exchanged.Inc()
	}
	p.apply(r, rt, e, subject == "", false, now)
	return nil
}

// miss gets the token of key from the endpoint; concurrent misses of one key share one
// call. It is apart from obtain so that a hit's key stays on the stack.
func (p *Plugin) miss(ctx context.Context, key [32]byte, rt *route, subject string) (*issued, error) {
	ch := p.group.DoChan(string(key[:]), func() (any, error) {
		// A flight that just ended may have cached it.
		if e := p.cache.Get(&key, p.now()); e != nil {
			return e, nil
		}
		e, err := p.request(rt, subject)
		if err != nil {
			return nil, err
		}
		p.cache.Put(&key, e, p.now())
		return e, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*issued), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Plugin) fail(rt *route, err error) *pipeline.Deny {
	p.metrics.failed.Inc()
	if p.log.V(1).Enabled() {
		p.log.V(1).Info("token exchange failed", "audience", rt.audience, "tokenURL", rt.tokenURL, "error", err.Error())
	}
	return pipeline.Denied(pipeline.CodeExchangeFailed, msgFailed)
}

// request calls the token endpoint: an RFC 8693 exchange of subject, or the
// client_credentials grant when subject is "".
func (p *Plugin) request(rt *route, subject string) (*issued, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	creds := p.creds.Load()
	if creds == nil {
		return nil, errPending
	}
	form := url.Values{}
	if subject != "" {
		form.Set("grant_type", grantTokenExchange)
		form.Set("requested_token_type", tokenTypeAccessToken)
		form.Set("subject_token", subject)
		form.Set("subject_token_type", tokenTypeAccessToken)
	} else {
		form.Set("grant_type", grantClientCredentials)
	}
	if rt.audience != "" {
		form.Set("audience", rt.audience)
	}
	if rt.scopes != "" {
		form.Set("scope", rt.scopes)
	}
	form.Set("client_id", creds.clientID)
	if p.idType == identityTypeSPIFFE {
		assertion, err := p.svids.get(ctx)
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion", assertion)
		form.Set("client_assertion_type", p.assertionType)
	} else {
		form.Set("client_secret", creds.secret)
	}
	resp, err := p.post(ctx, rt.tokenURL, form)
	if err != nil {
		return nil, err
	}
	e := &issued{authorization: "Bearer " + resp.AccessToken}
	if subject != "" {
		e.subject = unverifiedSubject(subject)
	} else {
		e.subject = unverifiedSubject(resp.AccessToken)
	}
	if ttl := time.Duration(resp.ExpiresIn)*time.Second - cacheMargin; resp.ExpiresIn > 0 && ttl > 0 {
		e.expiry = p.now().Add(ttl)
	}
	return e, nil
}

// delegation is a Delegation with room for its first hop, allocated together.
type delegation struct {
	d    pipeline.Delegation
	hops [1]pipeline.Hop
}

// apply puts the token on the request and records the hop and the outbound identity.
func (p *Plugin) apply(r *pipeline.Request, rt *route, e *issued, clientCredentials, fromCache bool, now time.Time) {
	if v := r.Header["Authorization"]; len(v) == 1 {
		v[0] = e.authorization // in place: Set would allocate a slice
	} else {
		r.Header.Set("Authorization", e.authorization)
	}
	strategy := StrategyTokenExchange
	if clientCredentials {
		strategy = StrategyClientCredentials
	}
	hop := pipeline.Hop{SubjectID: e.subject, Audience: rt.audience, Scopes: rt.scopeList, Strategy: strategy, FromCache: fromCache, Time: now}
	if r.Delegation == nil {
		d := &delegation{d: pipeline.Delegation{Origin: e.subject, Actor: p.agentID}}
		d.hops[0] = hop
		d.d.Chain = d.hops[:1:1]
		r.Delegation = &d.d
	} else {
		r.Delegation.Chain = append(r.Delegation.Chain, hop)
	}
	// As upstream's OPA plugin builds it: the calling workload's own client ID, and the
	// callee (the exchange's audience) as service_id.
	r.Identity = &pipeline.Identity{Subject: r.Delegation.Origin, ClientID: p.agentID, ServiceID: rt.audience, Scopes: rt.scopeList}
}
