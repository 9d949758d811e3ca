package bundles

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
)

// Defaults of Options, as the reference OPA plugin polls.
const (
	DefaultPollingMinDelay = 10 * time.Second
	DefaultPollingMaxDelay = 120 * time.Second
	DefaultTimeout         = 30 * time.Second
	// minRetryDelay is the first delay after a failure, doubled on each further one (as
	// OPA's downloader).
	minRetryDelay = 100 * time.Millisecond
)

// maxRememberedRefusals bounds the refused ETags remembered for logging once.
const maxRememberedRefusals = 64

// PersistedFile is the name of the last good bundle in Options.Dir.
const PersistedFile = "policy-bundle.json"

// Options configure a Client.
type Options struct {
	// BundleURL is the bundle server's base URL; sidecarconfig.DefaultBundleURL when "".
	BundleURL string
	// ID is the sidecar's own SPIFFE ID, whose bundle is fetched. Required.
	ID spiffeid.ID
	// ServerID is the SPIFFE ID the bundle server must present; when zero,
	// spiffe://<ID's trust domain>/ns/trustsync-system/sa/trustsync-bundle-server.
	ServerID spiffeid.ID
	// SVID is the sidecar's X.509-SVID, presented to the server. Required.
	SVID x509svid.Source
	// Bundles are the trust bundles the server's SVID must chain to. Required.
	Bundles x509bundle.Source
	// Upstream says BundleURL is upstream's (Kagenti's) bundle-service: fetched as
	// upstream's sidecar fetches, without a client certificate (over plain HTTP for an
	// http URL, the system's roots for https), and read in its layout
	// (policy.ReadUpstreamArchive). ServerID, SVID and Bundles are then not used.
	Upstream bool
	// PollingMinDelay and PollingMaxDelay bound the random delay after a successful
	// check; PollingMaxDelay also caps the backoff after failures. 10 s and 120 s when 0.
	PollingMinDelay, PollingMaxDelay time.Duration
	// Dir keeps the last good bundle across restarts; none is kept when "".
	Dir string
	// Limits bound reading and evaluating bundles (the Platform defaults where unset).
	Limits gitopsv1.Limits
	// Timeout bounds one fetch; 30 s when 0.
	Timeout time.Duration
	// Registerer gets the client's metrics; none when nil.
	Registerer prometheus.Registerer
	// Log; discarded when zero.
	Log logr.Logger
}

// active is the bundle in use.
type active struct {
	decider  *policy.Decider
	revision string
	etag     string
}

// Client polls the bundle server and decides with the last bundle that compiled. Its
// Decide and Ready are safe for concurrent use; Run runs once at a time.
type Client struct {
	opts      Options
	bundleURL string
	http      *http.Client
	transport *http.Transport
	current   atomic.Pointer[active]
	metrics   *metrics
	// lastSuccess is the time of the last check that got a bundle or a 304 (unix ns).
	lastSuccess atomic.Int64
	started     time.Time

	mu sync.Mutex
	// refused are the archives (by ETag) already logged as refused: each is logged once.
	refused map[string]bool
}

// New makes a Client and loads the bundle persisted in o.Dir, if it is a good one of
// o.ID, so the client decides before its first fetch.
func New(o Options) (*Client, error) {
	if o.ID.IsZero() {
		return nil, errors.New("bundles: Options.ID (the sidecar's SPIFFE ID) is required")
	}
	if _, err := identity.Parse(o.ID.String()); err != nil {
		return nil, fmt.Errorf("bundles: Options.ID: %w", err)
	}
	if !o.Upstream && (o.SVID == nil || o.Bundles == nil) {
		return nil, errors.New("bundles: Options.SVID and Options.Bundles are required: bundles are fetched over mutual TLS only")
	}
	if o.BundleURL == "" {
		o.BundleURL = sidecarconfig.DefaultBundleURL
	}
	if o.ServerID.IsZero() {
		id, err := spiffeid.FromPath(o.ID.TrustDomain(), sidecarconfig.DefaultBundleServerPath)
		if err != nil {
			return nil, fmt.Errorf("bundles: the default server ID: %w", err)
		}
		o.ServerID = id
	}
	if o.PollingMinDelay <= 0 {
		o.PollingMinDelay = DefaultPollingMinDelay
	}
	if o.PollingMaxDelay <= 0 {
		o.PollingMaxDelay = DefaultPollingMaxDelay
	}
	if o.PollingMinDelay > o.PollingMaxDelay {
		return nil, fmt.Errorf("bundles: PollingMinDelay %s is more than PollingMaxDelay %s", o.PollingMinDelay, o.PollingMaxDelay)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	u, err := url.Parse(o.BundleURL)
	if err != nil {
		return nil, fmt.Errorf("bundles: BundleURL %q: %w", o.BundleURL, err)
	}
	switch {
	case u.User != nil || u.Host == "":
		return nil, fmt.Errorf("bundles: BundleURL %q: want scheme://host[:port] without credentials", o.BundleURL)
	case o.Upstream && u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bundles: BundleURL %q: want an http or https URL of upstream's bundle-service", o.BundleURL)
	case !o.Upstream && u.Scheme != "https":
		return nil, fmt.Errorf("bundles: BundleURL %q: want https://host[:port]: trustsync's bundles are served over mutual TLS only", o.BundleURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/bundles"
	// The API wants the ID without its scheme.
	u.RawQuery = url.Values{"spiffe": {strings.TrimPrefix(o.ID.String(), "spiffe://")}}.Encode()

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12} // upstream's: the system's roots
	if !o.Upstream {
		tlsConfig = tlsconfig.MTLSClientConfig(o.SVID, o.Bundles, tlsconfig.AuthorizeID(o.ServerID))
		tlsConfig.MinVersion = tls.VersionTLS12
	} else if u.Scheme == "http" {
		o.Log.Info("WARNING: fetching policy bundles over plain HTTP from upstream's bundle-service, as upstream's sidecar does: the server is not authenticated, and anyone on the path can change this sidecar's policy", "url", o.BundleURL)
	}
	transport := &http.Transport{
		TLSClientConfig: tlsConfig,
		// The sidecar's own proxy variables must not route its bundle fetches.
		Proxy:                  nil,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1,
		IdleConnTimeout:        2 * o.PollingMaxDelay,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c := &Client{
		opts:      o,
		bundleURL: u.String(),
		transport: transport,
		http:      &http.Client{Timeout: o.Timeout, Transport: transport},
		refused:   map[string]bool{},
		started:   time.Now(),
	}
	if c.metrics, err = newMetrics(o.Registerer, c.sinceLastSuccess); err != nil {
		return nil, fmt.Errorf("bundles: registering the metrics: %w", err)
	}
	if err := c.loadPersisted(context.Background()); err != nil {
		// Fail closed: not ready until a fetch succeeds.
		o.Log.Info("ignoring the persisted policy bundle", "file", c.persistedPath(), "reason", err.Error())
	}
	return c, nil
}

// Ready reports whether a bundle is active.
func (c *Client) Ready() bool { return c.current.Load() != nil }

// Revision is the active bundle's revision; "" when none is.
func (c *Client) Revision() string {
	if a := c.current.Load(); a != nil {
		return a.revision
	}
	return ""
}

// DecideInput decides at pt with the active bundle and an input build makes for it
// (see policy.Decider.DecideInput); without a bundle it denies (fail closed).
func (c *Client) DecideInput(ctx context.Context, pt policy.Point, build func(policy.Fields) (ast.Value, error)) policy.Decision {
	a := c.current.Load()
	if a == nil {
		return notActive
	}
	return a.decider.DecideInput(ctx, pt, build)
}

var notActive = policy.Decision{Reason: "no policy bundle is active yet (fail closed): the bundle server has not served this identity's bundle"}

// Run polls until ctx is done: after a check that got a bundle or a 304, at a random
// delay in [PollingMinDelay, PollingMaxDelay]; after a failure, after 100 ms doubled on
// each further failure, capped at PollingMaxDelay. It returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	defer c.transport.CloseIdleConnections()
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if err := c.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			c.opts.Log.V(1).Info("policy bundle check failed", "error", err.Error(), "failures", failures)
		} else {
			failures = 0
		}
		timer.Reset(nextDelay(failures, c.opts.PollingMinDelay, c.opts.PollingMaxDelay))
	}
}

// nextDelay is the wait before the next poll after failures consecutive failures.
func nextDelay(failures int, minDelay, maxDelay time.Duration) time.Duration {
	if failures == 0 {
		return minDelay + rand.N(maxDelay-minDelay+1)
	}
	d := minRetryDelay
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// Results of a fetch, the label of trustsync_sidecar_bundle_fetches_total.
const (
	resultUpdated     = "updated"
	resultNotModified = "not_modified"
	resultError       = "error"
	resultRefused     = "refused"
)

// Poll checks the server once: a 304 keeps the active bundle, a new archive that reads
// and compiles replaces it (and is persisted). Anything else keeps the active bundle
// and is the error.
func (c *Client) Poll(ctx context.Context) error {
	result, err := c.poll(ctx)
	c.metrics.fetches.WithLabelValues(result).Inc()
	if result == resultUpdated || result == resultNotModified {
		c.lastSuccess.Store(time.Now().UnixNano())
	}
	return err
}

func (c *Client) poll(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.bundleURL, nil)
	if err != nil {
		return resultError, err
	}
	current := c.current.Load()
	if current != nil && current.etag != "" {
		req.Header.Set("If-None-Match", `"`+current.etag+`"`)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// err names the URL; the ID tells a refused server certificate apart.
		return resultError, fmt.Errorf("fetching the policy bundle from the server %s: %w", c.server(), err)
	}
	defer resp.Body.Close()
	// At most one byte past the bound, to tell a bundle over it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, policy.MaxBundleSize+1))
	if err != nil {
		return resultError, fmt.Errorf("reading the policy bundle from %s: %w", c.bundleURL, err)
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		if current == nil {
			return resultError, fmt.Errorf("the bundle server at %s answered 304 to a request without If-None-Match", c.bundleURL)
		}
		return resultNotModified, nil
	case http.StatusOK:
	default:
		return resultError, fmt.Errorf("the bundle server at %s answered %s: %s", c.bundleURL, resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	}
	etag := strings.Trim(strings.TrimPrefix(resp.Header.Get("ETag"), "W/"), `"`)
	next, err := c.activate(ctx, body, etag)
	if err != nil {
		c.logRefusedOnce(etag, err)
		return resultRefused, err
	}
	// Persisted before it is used: a sidecar restarted during an outage decides with
	// the bundle it last decided with, never an older one.
	if err := c.persist(body, etag); err != nil {
		// The bundle is used anyway; only a restart during an outage would miss it.
		c.opts.Log.Error(err, "persisting the policy bundle", "dir", c.opts.Dir)
	}
	c.current.Store(next)
	c.metrics.setRevision(current, next)
	c.opts.Log.Info("policy bundle activated", "revision", next.revision)
	return resultUpdated, nil
}

// activate reads and compiles an archive. The ETag must be the archive's own: it is
// what the next request revalidates.
// Upstream's ETag is its service's own hash, which only it computes.
func (c *Client) activate(ctx context.Context, archive []byte, etag string) (*active, error) {
	read := policy.ReadArchive
	if c.opts.Upstream {
		read = policy.ReadUpstreamArchive
	}
	b, err := read(archive, c.opts.Limits)
	if err != nil {
		return nil, err
	}
	if !c.opts.Upstream && etag != b.ETag() {
		return nil, fmt.Errorf("the ETag %q is not the bundle's %q", etag, b.ETag())
	}
	d, err := policy.NewDecider(ctx, b, c.opts.Limits)
	if err != nil {
		return nil, err
	}
	return &active{decider: d, revision: b.Revision, etag: etag}, nil
}

// server names the bundle server in errors: its SPIFFE ID, or upstream's URL.
func (c *Client) server() string {
	if c.opts.Upstream {
		return "upstream bundle-service " + c.opts.BundleURL
	}
	return c.opts.ServerID.String()
}

// logRefusedOnce logs a refused archive the first time it is seen: the server serves
// the same one on every poll until its policies change.
func (c *Client) logRefusedOnce(etag string, err error) {
	c.mu.Lock()
	seen := c.refused[etag]
	if len(c.refused) >= maxRememberedRefusals {
		clear(c.refused) // a server cycling through bad bundles is logged again, not remembered forever
	}
	c.refused[etag] = true
	c.mu.Unlock()
	if !seen {
		c.opts.Log.Error(err, "refused a policy bundle; the active one stays", "etag", etag, "active", c.Revision())
	}
}

func (c *Client) sinceLastSuccess() float64 {
	last := c.lastSuccess.Load()
	if last == 0 {
		return time.Since(c.started).Seconds()
	}
	return time.Since(time.Unix(0, last)).Seconds()
}

// persisted is the file a good bundle is kept in: whose it is, its ETag and archive.
type persisted struct {
	ID      string `json:"id"`
	ETag    string `json:"etag"`
	Archive []byte `json:"archive"`
}

func (c *Client) persistedPath() string {
	if c.opts.Dir == "" {
		return ""
	}
	return filepath.Join(c.opts.Dir, PersistedFile)
}

// persist writes the bundle atomically: a temporary file, synced, renamed over the old
// one, so a crash leaves either bundle whole.
func (c *Client) persist(archive []byte, etag string) error {
	if c.opts.Dir == "" {
		return nil
	}
	data, err := json.Marshal(persisted{ID: c.opts.ID.String(), ETag: etag, Archive: archive})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.opts.Dir, "."+PersistedFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is none
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.persistedPath()); err != nil {
		return err
	}
	// The rename is durable once the directory is.
	if dir, err := os.Open(c.opts.Dir); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// loadPersisted activates the persisted bundle when it is a good one of this identity.
func (c *Client) loadPersisted(ctx context.Context) error {
	path := c.persistedPath()
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// base64 and JSON around an archive of at most MaxBundleSize.
	data, err := io.ReadAll(io.LimitReader(f, 2*policy.MaxBundleSize))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if p.ID != c.opts.ID.String() {
		return fmt.Errorf("%s: the bundle of %q, not of this sidecar's %q", path, p.ID, c.opts.ID)
	}
	a, err := c.activate(ctx, p.Archive, p.ETag)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.current.Store(a)
	c.metrics.setRevision(nil, a)
	c.opts.Log.Info("policy bundle loaded from disk", "revision", a.revision, "file", path)
	return nil
}
