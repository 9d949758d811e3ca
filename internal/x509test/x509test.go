// Package x509test makes real certificates for tests with crypto/x509: CAs, intermediates,
// leaves, SPIFFE CAs and X.509-SVIDs, and their PEM forms. It is for tests only.
package x509test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TB is the part of testing.TB the helpers use, so a TestMain can make certificates too.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Options shape a certificate; the zero value is a one-hour ECDSA P-256 leaf.
type Options struct {
	CommonName string
	// URIs are the URI SANs, e.g. spiffe://example.org/ns/a/sa/b.
	URIs []string
	// IsCA makes a CA that may sign certificates.
	IsCA bool
	// NotBefore and NotAfter default to an hour ago and an hour from now.
	NotBefore, NotAfter time.Time
	// Key is the certificate's key; a new ECDSA P-256 key when nil.
	Key crypto.Signer
}

// Cert is a certificate with its key and the certificate that signed it.
type Cert struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Parent *Cert // nil for a self-signed certificate
}

// New makes a self-signed certificate.
func New(tb TB, o Options) *Cert {
	tb.Helper()
	return issue(tb, o, nil)
}

// Issue makes a certificate signed by c.
func (c *Cert) Issue(tb TB, o Options) *Cert {
	tb.Helper()
	return issue(tb, o, c)
}

func issue(tb TB, o Options, parent *Cert) *Cert {
	tb.Helper()
	key := o.Key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		key = k
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(time.Hour)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"trustsync tests"}},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if o.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &Cert{Cert: cert, Key: key, Parent: parent}
}

// Root is the self-signed certificate at the top of c's chain.
func (c *Cert) Root() *Cert {
	for c.Parent != nil {
		c = c.Parent
	}
	return c
}

// CertPEM is the certificate in PEM.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the private key in PEM (PKCS #8).
func (c *Cert) KeyPEM(tb TB) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// NewSPIFFECA makes the CA of a SPIFFE trust domain, as SPIRE's: self-signed, with the
// URI SAN spiffe://<trustDomain>, valid for a day.
func NewSPIFFECA(tb TB, trustDomain string) *Cert {
	tb.Helper()
	return New(tb, Options{CommonName: trustDomain + " CA", URIs: []string{"spiffe://" + trustDomain}, IsCA: true, NotAfter: time.Now().Add(24 * time.Hour)})
}

// SVID issues an X.509-SVID for id, signed by c. The SVID is built by hand rather than
// by x509svid.Parse, so leaves without a valid SPIFFE ID (o.URIs set otherwise) can be
// made too, for verifiers to reject; o.URIs defaults to [id].
func (c *Cert) SVID(tb TB, id string, o Options) *x509svid.SVID {
	tb.Helper()
	if o.URIs == nil && id != "" {
		o.URIs = []string{id}
	}
	leaf := c.Issue(tb, o)
	svid := &x509svid.SVID{Certificates: []*x509.Certificate{leaf.Cert}, PrivateKey: leaf.Key}
	if len(leaf.Cert.URIs) == 1 {
		svid.ID, _ = spiffeid.FromURI(leaf.Cert.URIs[0])
	}
	return svid
}

// Bundle is c as the X.509 trust bundle of a trust domain.
func (c *Cert) Bundle(trustDomain string) *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString(trustDomain), []*x509.Certificate{c.Cert})
}

// SPIFFEBundleJSON is the SPIFFE-format (JWKS) trust bundle of a trust domain holding
// certs as X.509 authorities, as SPIRE publishes it in ConfigMap spire-bundle.
func SPIFFEBundleJSON(tb TB, trustDomain string, certs ...*x509.Certificate) []byte {
	tb.Helper()
	data, err := spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString(trustDomain), certs).Marshal()
	if err != nil {
		tb.Fatal("marshalling the bundle of ", trustDomain, ": ", err)
	}
	return data
}
