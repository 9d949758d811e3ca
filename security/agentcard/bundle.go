package agentcard

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ParseTrustBundle reads X.509 trust anchors in any of the forms SPIRE publishes them:
//
//   - PEM CERTIFICATE blocks (spire-server bundle show, the k8s bundle notifier's
//     bundle.crt);
//   - a SPIFFE bundle, a JWKS whose "x509-svid" keys carry the authorities in x5c
//     (spire-server bundle show -format spiffe, the spire-bundle ConfigMap's bundle.spiffe);
//   - a JSON object mapping trust domain names to SPIFFE bundles (federated bundles).
//
// Bundles of the first two forms do not say their trust domain; each authority is filed
// under the one its spiffe:// URI SAN names (SPIRE puts one on its CAs), else under
// trustDomain (an upstream CA's root has none). A bundle with no X.509 authority is an
// error: it could only reject everything, silently.
func ParseTrustBundle(data []byte, trustDomain string) (*x509bundle.Set, error) {
	var td spiffeid.TrustDomain
	if trustDomain != "" {
		var err error
		if td, err = spiffeid.TrustDomainFromString(trustDomain); err != nil {
			return nil, fmt.Errorf("trust domain %q: %w", trustDomain, err)
		}
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return nil, errors.New("trust bundle is empty")
	case bytes.HasPrefix(data, []byte("-----BEGIN")):
		certs, err := parsePEMCertificates(data)
		if err != nil {
			return nil, err
		}
		return bundleSet(td, certs)
	case data[0] == '{':
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, fmt.Errorf("trust bundle is not JSON: %w", err)
		}
		if _, ok := top["keys"]; ok {
			certs, err := spiffeBundleAuthorities(data)
			if err != nil {
				return nil, err
			}
			return bundleSet(td, certs)
		}
		set := x509bundle.NewSet()
		for name, raw := range top {
			btd, err := spiffeid.TrustDomainFromString(name)
			if err != nil {
				return nil, fmt.Errorf("trust bundle member %q is not a trust domain: %w", name, err)
			}
			b, err := spiffebundle.Parse(btd, raw)
			if err != nil {
				return nil, fmt.Errorf("trust bundle of %s: %w", btd, err)
			}
			if len(b.X509Authorities()) == 0 {
				return nil, fmt.Errorf("trust bundle of %s has no X.509 authorities", btd)
			}
			set.Add(b.X509Bundle())
		}
		if set.Len() == 0 {
			return nil, errors.New("trust bundle names no trust domain")
		}
		return set, nil
	}
	return nil, errors.New("trust bundle is neither PEM certificates nor a SPIFFE JSON bundle")
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, errors.New("trust bundle: data after the last PEM block is not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("trust bundle: PEM block %q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trust bundle: certificate %d: %w", len(certs), err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("trust bundle has no certificates")
	}
	return certs, nil
}

// spiffeBundleAuthorities reads a SPIFFE bundle without knowing its trust domain yet.
func spiffeBundleAuthorities(data []byte) ([]*x509.Certificate, error) {
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("unknown.invalid"), data)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	return b.X509Authorities(), nil
}

// bundleSet files each authority under the trust domain its spiffe:// URI SAN names (as
// SPIRE's CAs do), or under td when it names none (an upstream CA's root).
func bundleSet(td spiffeid.TrustDomain, certs []*x509.Certificate) (*x509bundle.Set, error) {
	if len(certs) == 0 {
		return nil, errors.New("trust bundle has no X.509 authorities")
	}
	byTD := map[spiffeid.TrustDomain][]*x509.Certificate{}
	var order []spiffeid.TrustDomain
	for i, c := range certs {
		ctd, err := certTrustDomain(c)
		if err != nil {
			if td.IsZero() {
				return nil, fmt.Errorf("trust bundle: authority %d (%q): %v; give the trust domain", i, c.Subject.String(), err)
			}
			ctd = td
		}
		if _, seen := byTD[ctd]; !seen {
			order = append(order, ctd)
		}
		byTD[ctd] = append(byTD[ctd], c)
	}
	set := x509bundle.NewSet()
	for _, t := range order {
		set.Add(x509bundle.FromX509Authorities(t, byTD[t]))
	}
	return set, nil
}

func certTrustDomain(c *x509.Certificate) (spiffeid.TrustDomain, error) {
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			return spiffeid.TrustDomainFromURI(u)
		}
	}
	return spiffeid.TrustDomain{}, errors.New("no spiffe:// URI SAN names its trust domain")
}
