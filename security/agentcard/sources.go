package agentcard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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

// maxCardBytes bounds a fetched card; agents are not trusted to be small.
const maxCardBytes = 1 << 20

// HTTPFetcher GETs the card from the agent's Service.
type HTTPFetcher struct {
	// Client does the request; for the agent-tls port it must carry the mTLS
	// configuration (go-spiffe tlsconfig.MTLSClientConfig with trustsync's X509Source).
	// A client with a 10 s timeout and no proxy when nil.
	Client *http.Client
	// URL maps an endpoint to the card URL; Endpoint.URL when nil. Tests point it at a
	// local server.
	URL func(Endpoint) string
}

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}, CheckRedirect: NoRedirects}

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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCardBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the card: %w", url, err)
	}
	if len(data) > maxCardBytes {
		return nil, fmt.Errorf("GET %s: card larger than %d bytes", url, maxCardBytes)
	}
	return data, nil
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
