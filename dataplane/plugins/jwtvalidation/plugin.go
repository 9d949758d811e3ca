package jwtvalidation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/internal/egress"
	"github.com/trustsync/trustsync/dataplane/plugins/internal/tokencache"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Name is the plugin's name in config.yaml.
const Name = sidecarconfig.PluginJWTValidation

const (
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway = 30 * time.Second
	// MaxTokenBytes bounds a bearer token; a longer one is invalid. Keycloak's access
	// tokens are a few KiB.
	MaxTokenBytes = 16 << 10
	// FilePollInterval is how often Run looks for a missing audience_file.
	FilePollInterval = 2 * time.Second
	// maxAudienceFileBytes bounds the audience file (a client ID).
	maxAudienceFileBytes = 4 << 10
)

// allowedAlgorithms are the signature algorithms accepted: asymmetric only, never none
// or HMAC (whose "secret" would be the public key).
var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256,
}

// Deny messages, as upstream writes them.
const (
	msgMissing   = "missing Authorization header"
	msgMalformed = "invalid Authorization header format"
	msgInvalid   = "token validation failed"
	msgPending   = "identity not yet configured (credentials pending)"
)

// Options are what the plugin needs besides its config; zero fields take defaults.
type Options struct {
	// HTTPClient fetches the JWKS; default: its own transport without proxy, 10 s timeout.
	HTTPClient *http.Client
	// ReadFile reads audience_file; files.Read (bounded) when nil.
	ReadFile func(string) ([]byte, error)
	// Now is the clock of token validation and the caches; time.Now when nil.
	Now func() time.Time
	// Registerer gets the plugin's metrics; none when nil.
	Registerer prometheus.Registerer
	// Log; discarded when zero.
	Log logr.Logger
}

// Plugin is jwt-validation. It is safe for concurrent use.
type Plugin struct {
	issuer   string
	perHost  bool
	bypass   []string // patterns with glob metacharacters
	exact    []string // patterns without: compared as strings
	static   []string // allowed_audiences and audience
	audFile  string
	readFile func(string) ([]byte, error)
	now      func() time.Time
	log      logr.Logger
	metrics  *metrics
	keys     *jwks
	cache    *tokencache.Cache[*verified]

	// audiences are the expected audiences in static mode: static plus the file's
	// value once read.
	audiences atomic.Pointer[[]string]
	// fileRead says audience_file was read (or there is none).
	fileRead atomic.Bool

	challenge, challengeInvalid string
}

var (
	_ pipeline.RequestHandler = (*Plugin)(nil)
	_ pipeline.Readier        = (*Plugin)(nil)
	_ pipeline.Runner         = (*Plugin)(nil)
)

// New makes the plugin of a validated config (defaults applied). It reads audience_file
// now; when the file is missing, Run waits for it.
func New(cfg *sidecarconfig.JWTValidation, o Options) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("jwt-validation: no config")
	}
	if cfg.PlaceholderMode {
		return nil, errors.New("jwt-validation: placeholder_mode is not supported by this data plane")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("jwt-validation: issuer is required")
	}
	if cfg.JWKSURL == "" {
		return nil, errors.New("jwt-validation: jwks_url is empty (the config was not validated)")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultHTTPClient()
	}
	if o.ReadFile == nil {
		o.ReadFile = files.Read
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	var bypass, exact []string
	for _, pat := range cfg.BypassPaths {
		if _, err := path.Match(pat, "/"); err != nil {
			return nil, fmt.Errorf("jwt-validation: bypass path %q: %w", pat, err)
		}
		if strings.ContainsAny(pat, `*?[\`) {
			bypass = append(bypass, pat)
		} else {
			exact = append(exact, pat)
		}
	}
	p := &Plugin{
		issuer:   cfg.Issuer,
		perHost:  cfg.AudienceMode == "per-host",
		bypass:   bypass,
		exact:    exact,
		audFile:  cfg.AudienceFile,
		readFile: o.ReadFile,
		now:      o.Now,
		log:      o.Log.WithName(Name),
		metrics:  m,
		keys:     &jwks{url: cfg.JWKSURL, client: o.HTTPClient, now: o.Now, metrics: m},
		cache:    tokencache.New[*verified](MaxCachedTokens),
	}
	realm := `Bearer realm="` + quote(cfg.Issuer) + `"`
	p.challenge, p.challengeInvalid = realm, realm+`, error="invalid_token"`
	for _, a := range append(slices.Clone(cfg.AllowedAudiences), cfg.Audience) {
		if a != "" && !slices.Contains(p.static, a) {
			p.static = append(p.static, a)
		}
	}
	aud := slices.Clone(p.static)
	p.audiences.Store(&aud)
	if p.perHost || p.audFile == "" {
		p.fileRead.Store(true)
	} else if _, err := p.readAudienceFile(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return p, nil
}

// defaultHTTPClient is the client of the plugin's own calls.
func defaultHTTPClient() *http.Client { return egress.NewClient(FetchTimeout, 2) }

// quote escapes a quoted-string of RFC 9110.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// readAudienceFile reads audience_file and, when it has a value, adds it to the
// expected audiences. It reports whether it found one.
func (p *Plugin) readAudienceFile() (bool, error) {
	b, err := p.readFile(p.audFile)
	if err != nil {
		return false, fmt.Errorf("jwt-validation: audience_file %s: %w", p.audFile, err)
	}
	if len(b) > maxAudienceFileBytes {
		return false, fmt.Errorf("jwt-validation: audience_file %s: larger than %d bytes", p.audFile, maxAudienceFileBytes)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return false, nil
	}
	aud := slices.Clone(p.static)
	if !slices.Contains(aud, v) {
		aud = append(aud, v)
	}
	p.audiences.Store(&aud)
	p.fileRead.Store(true)
	return true, nil
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return Name }

// Ready is nil once some audience is expected.
func (p *Plugin) Ready() error {
	if p.perHost || len(*p.audiences.Load()) > 0 {
		return nil
	}
	return fmt.Errorf("no expected audience yet: waiting for audience_file %s", p.audFile)
}

// Run waits for a missing audience_file, fetches the JWKS once, and refreshes it every
// RefreshInterval, until ctx is done.
func (p *Plugin) Run(ctx context.Context) {
	if _, err := p.keys.refresh(ctx, true); err != nil && ctx.Err() == nil {
		p.log.Info("JWKS not fetched; will fetch at the first token", "error", err.Error())
	}
	var poll <-chan time.Time
	if !p.fileRead.Load() {
		t := time.NewTicker(FilePollInterval)
		defer t.Stop()
		poll = t.C
	}
	refresh := time.NewTicker(RefreshInterval)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll:
			ok, err := p.readAudienceFile()
			switch {
			case ok:
				poll = nil
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				p.log.Info("audience_file unreadable; retrying", "error", err.Error())
			}
		case <-refresh.C:
			if _, err := p.keys.refresh(ctx, true); err != nil && ctx.Err() == nil {
				p.log.Info("JWKS refresh failed; keeping the keys", "error", err.Error())
			}
		}
	}
}

// OnRequest authenticates an inbound request.
func (p *Plugin) OnRequest(ctx context.Context, r *pipeline.Request) *pipeline.Deny {
	if p.bypassed(r.Path) {
		p.metrics.bypassed.Inc()
		return nil
	}
	var expected []string
	if !p.perHost {
		expected = *p.audiences.Load()
		if len(expected) == 0 {
			p.metrics.pending.Inc()
			return pipeline.Denied(pipeline.CodeUnreachable, msgPending)
		}
	}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		p.metrics.missing.Inc()
		return &pipeline.Deny{Code: pipeline.CodeUnauthorized, Message: msgMissing, Challenge: p.challenge}
	}
	token, ok := bearer(values)
	if !ok {
		p.metrics.malformed.Inc()
		return &pipeline.Deny{Code: pipeline.CodeUnauthorized, Message: msgMalformed, Challenge: p.challengeInvalid}
	}
	v, err := p.validate(ctx, token)
	if err == nil {
		err = p.checkAudience(v, expected, r.Host)
	}
	if err != nil {
		p.metrics.invalid.Inc()
		if p.log.V(1).Enabled() {
			p.log.V(1).Info("token validation failed", "reason", err.Error())
		}
		return &pipeline.Deny{Code: pipeline.CodeUnauthorized, Message: msgInvalid, Challenge: p.challengeInvalid}
	}
	p.metrics.allowed.Inc()
	r.Identity = &pipeline.Identity{
		Subject: v.subject, ClientID: v.clientID, Scopes: v.scopes,
		Issuer: p.issuer, Audience: v.audience, Expiry: v.expiry,
	}
	return nil
}

func (p *Plugin) bypassed(reqPath string) bool {
	if len(p.bypass) == 0 && len(p.exact) == 0 {
		return false
	}
	clean := path.Clean(reqPath)
	if slices.Contains(p.exact, clean) {
		return true
	}
	for _, pat := range p.bypass {
		if ok, _ := path.Match(pat, clean); ok {
			return true
		}
	}
	return false
}

// bearer takes the token of a single `Authorization: Bearer <token>`.
func bearer(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	h := values[0]
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimLeft(h[len(scheme):], " ")
	if t == "" || strings.IndexByte(t, ' ') >= 0 || strings.IndexByte(t, '\t') >= 0 {
		return "", false
	}
	return t, true
}

var (
	errAudience = errors.New("the token's aud has none of the expected audiences")
	errNoHost   = errors.New("per-host audience: the request has no Host")
	errNoExpiry = errors.New("the token has no exp")
	errTooLong  = fmt.Errorf("the token is longer than %d bytes", MaxTokenBytes)
)

// checkAudience accepts a token whose aud has any expected audience; per-host, the
// expected audience is the first DNS label of the Host.
func (p *Plugin) checkAudience(v *verified, expected []string, host string) error {
	if p.perHost {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		label, _, _ := strings.Cut(host, ".")
		if label == "" {
			return errNoHost
		}
		if slices.Contains(v.audience, label) {
			return nil
		}
		return errAudience
	}
	for _, a := range expected {
		if slices.Contains(v.audience, a) {
			return nil
		}
	}
	return errAudience
}

// claims are the claims read from a token.
type claims struct {
	jwt.Claims
	AuthorizedParty string `json:"azp"`
	Scope           string `json:"scope"`
}

// validate returns the verified claims of a token: from the cache, else checked
// (signature, issuer, exp, nbf, iat) and cached until its exp.
func (p *Plugin) validate(ctx context.Context, token string) (*verified, error) {
	if len(token) > MaxTokenBytes {
		return nil, errTooLong
	}
	now := p.now()
	// The token's bytes are hashed in place: a copy would cost an allocation of a few
	// KiB per request, and Sum256 neither keeps nor changes them.
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if v := p.cache.Get(&key, now); v != nil {
		return v, nil
	}
	tok, err := jwt.ParseSigned(token, allowedAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("not a single-signature JWS")
	}
	h := tok.Headers[0]
	k, err := p.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("kid %.64q: %w", h.KeyID, err)
	}
	if k.Algorithm != "" && k.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("kid %.64q is a %s key, the token says %s", h.KeyID, k.Algorithm, h.Algorithm)
	}
	var c claims
	if err := tok.Claims(k.Key, &c); err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	if c.Expiry == nil {
		return nil, errNoExpiry
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: p.issuer, Time: now}, Leeway); err != nil {
		return nil, err
	}
	v := &verified{
		subject: c.Subject, clientID: c.AuthorizedParty, scopes: strings.Fields(c.Scope),
		audience: []string(c.Audience), expiry: c.Expiry.Time(),
	}
	p.cache.Put(&key, v, now)
	return v, nil
}
