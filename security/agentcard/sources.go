package agentcard

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WellKnownPath is where an A2A agent serves its card.
const WellKnownPath = "/.well-known/agent-card.json"

// Endpoint is the Service port an agent's card is fetched from.
type Endpoint struct {
	Namespace string
	Service   string
	Port      int32
	PortName  string
}

// URL is the in-cluster card URL: https for the agent-tls port, else http.
func (e Endpoint) URL() string {
	scheme := "http"
	if e.PortName == PortAgentTLS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s.%s.svc:%d%s", scheme, e.Service, e.Namespace, e.Port, WellKnownPath)
}

func (e Endpoint) String() string {
	return fmt.Sprintf("Service %s/%s port %s", e.Namespace, e.Service, portLabel(e))
}

func portLabel(e Endpoint) string {
	if e.PortName != "" {
		return e.PortName + " (" + strconv.Itoa(int(e.Port)) + ")"
	}
	return strconv.Itoa(int(e.Port))
}

// CardFetcher gets the card an agent serves, as raw JSON: the signature covers the bytes'
// canonical form, so they must not pass through a Go struct first.
type CardFetcher interface {
	FetchCard(ctx context.Context, e Endpoint) ([]byte, error)
}

// MaxCardBytes bounds a card, fetched or read: agents and files are not trusted to be
// small.
const MaxCardBytes = 1 << 20

// ReadCard reads a card of at most MaxCardBytes from r; a longer one is an error that
// says so (not a JSON syntax error at the cut), naming the card by name.
func ReadCard(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCardBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > MaxCardBytes {
		return nil, fmt.Errorf("%s is over the bound of %d bytes (1 MiB) for an agent card", name, MaxCardBytes)
	}
	return data, nil
}

// DefaultFetchTimeout bounds one card fetch, connection to last byte, when
// HTTPFetcher.Timeout is not set.
const DefaultFetchTimeout = 10 * time.Second

// maxHeaderBytes bounds the response headers of a card fetch (Go's default is 1 MiB).
const maxHeaderBytes = 64 << 10

// HTTPFetcher GETs the card from the agent's Service. Whatever Client it is given, it
// follows no redirect, gives up after Timeout and reads at most MaxCardBytes, and only
// JSON counts as a card.
type HTTPFetcher struct {
	// Client does the request; for the agent-tls port it must carry the mTLS
	// configuration (NewHTTPClient with go-spiffe's tlsconfig.MTLSClientConfig and
	// trustsync's X509Source). NewHTTPClient(nil) when nil.
	Client *http.Client
	// Timeout bounds one fetch, connection to last byte; DefaultFetchTimeout when zero.
	Timeout time.Duration
	// URL maps an endpoint to the card URL; Endpoint.URL when nil. Tests point it at a
	// local server.
	URL func(Endpoint) string
}

// NewHTTPClient is the client card fetches are made with: no proxy, no redirects,
// bounded headers and waits; tlsConfig for the agent-tls port (nil: plain HTTP only).
func NewHTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout:       DefaultFetchTimeout,
		CheckRedirect: NoRedirects,
		Transport: &http.Transport{
			Proxy:                  nil,
			TLSClientConfig:        tlsConfig,
			TLSHandshakeTimeout:    DefaultFetchTimeout,
			ResponseHeaderTimeout:  DefaultFetchTimeout,
			MaxResponseHeaderBytes: maxHeaderBytes,
			IdleConnTimeout:        90 * time.Second,
		},
	}
}

var defaultHTTPClient = NewHTTPClient(nil)

// NoRedirects refuses to follow redirects: a card fetch goes to the agent's Service and
// nowhere else, or an agent could point the controller at any address it can reach.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// FetchCard implements CardFetcher.
func (f *HTTPFetcher) FetchCard(ctx context.Context, e Endpoint) ([]byte, error) {
	url := e.URL()
	if f.URL != nil {
		url = f.URL(e)
	}
	c := f.Client
	if c == nil {
		c = defaultHTTPClient
	}
	// A copy, so a caller's client cannot bring redirects back.
	cp := *c
	cp.CheckRedirect = NoRedirects
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	// The deadline covers the body too: a server that sends a byte a second is cut off.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cp.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, fetchErr(ctx, err, timeout))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The status code alone: the reason phrase is the agent's text.
		return nil, fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if resp.ContentLength > MaxCardBytes {
		return nil, fmt.Errorf("GET %s: the card is %d bytes, over the bound of %d", url, resp.ContentLength, MaxCardBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxCardBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the card: %w", url, fetchErr(ctx, err, timeout))
	}
	if len(data) > MaxCardBytes {
		return nil, fmt.Errorf("GET %s: the card is over the bound of %d bytes", url, MaxCardBytes)
	}
	if !json.Valid(data) {
		ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
		return nil, fmt.Errorf("GET %s: the answer is not JSON (Content-Type %s), so not an agent card", url, strconv.Quote(clip(ct, maxQuoted)))
	}
	return data, nil
}

// fetchErr says a timeout in words, naming the bound.
func fetchErr(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %s: %w", timeout, context.DeadlineExceeded)
	}
	return err
}

// TrustBundleSource gives the trust bundles card signatures are verified against.
type TrustBundleSource interface {
	TrustBundle(ctx context.Context) (x509bundle.Source, error)
}

// The trust bundle ConfigMap SPIRE publishes (Kagenti's defaults).
const (
	DefaultBundleConfigMap = "spire-bundle"
	DefaultBundleKey       = "bundle.spiffe"
	DefaultBundleNamespace = "zero-trust-workload-identity-manager"
)

// ConfigMapTrustBundle reads the trust bundle from a ConfigMap, in any form
// ParseTrustBundle accepts (bundle.spiffe JSON, or PEM as in bundle.crt).
type ConfigMapTrustBundle struct {
	// Reader should be uncached (the manager's APIReader): one ConfigMap read per sync is
	// cheaper than a cluster-wide ConfigMap informer.
	Reader client.Reader
	// Namespace, Name and Key of the ConfigMap; the Default* constants when empty.
	Namespace, Name, Key string
	// TrustDomain of authorities that do not name their own in a spiffe:// URI SAN (an
	// upstream CA's root); see ParseTrustBundle.
	TrustDomain string
}

// TrustBundle implements TrustBundleSource.
func (c *ConfigMapTrustBundle) TrustBundle(ctx context.Context) (x509bundle.Source, error) {
	ns, name, key := or(c.Namespace, DefaultBundleNamespace), or(c.Name, DefaultBundleConfigMap), or(c.Key, DefaultBundleKey)
	var cm corev1.ConfigMap
	if err := c.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm); err != nil {
		return nil, fmt.Errorf("reading the trust bundle ConfigMap %s/%s: %w", ns, name, err)
	}
	data, ok := cm.Data[key]
	if !ok {
		b, ok := cm.BinaryData[key]
		if !ok {
			return nil, fmt.Errorf("trust bundle ConfigMap %s/%s has no key %s", ns, name, key)
		}
		data = string(b)
	}
	set, err := ParseTrustBundle([]byte(data), c.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s data.%s: %w", ns, name, key, err)
	}
	return set, nil
}

// StaticTrustBundle is a fixed set of bundles (the CLI's, or trustsync's own X509Source).
type StaticTrustBundle struct{ Source x509bundle.Source }

// TrustBundle implements TrustBundleSource.
func (s StaticTrustBundle) TrustBundle(context.Context) (x509bundle.Source, error) {
	if s.Source == nil {
		return nil, errors.New("no trust bundle configured")
	}
	return s.Source, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
