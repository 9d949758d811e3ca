package agentcard

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/trustsync/trustsync/internal/x509test"
)

// testCA is a SPIFFE-style CA: a self-signed root with the trust domain's URI SAN,
// issuing leaf SVIDs.
type testCA struct {
	td   spiffeid.TrustDomain
	ca   *x509test.Cert
	cert *x509.Certificate
}

// fataler is the part of testing.TB the CA helpers use, so TestMain can make a CA too.
type fataler = x509test.TB

// mainTB is a fataler outside any test: it panics.
type mainTB struct{}

func (mainTB) Helper()           {}
func (mainTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func newTestCA(t fataler, td string) *testCA {
	t.Helper()
	ca := x509test.NewSPIFFECA(t, td)
	return &testCA{td: spiffeid.RequireTrustDomainFromString(td), ca: ca, cert: ca.Cert}
}

func (ca *testCA) bundle() *x509bundle.Bundle { return ca.ca.Bundle(ca.td.Name()) }

// leafOpts shape a leaf; the zero value is a valid one-hour ECDSA P-256 SVID.
type leafOpts struct {
	uris      []string // URI SANs; the default is spiffe://<td>/ns/team-a/sa/weather
	noURI     bool
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer
}

// svid signs a leaf; leaves without a valid SPIFFE ID can be made too, for the verifier
// to reject.
func (ca *testCA) svid(t testing.TB, o leafOpts) *x509svid.SVID {
	t.Helper()
	uris := o.uris
	switch {
	case o.noURI:
		uris = []string{}
	case uris == nil:
		uris = []string{"spiffe://" + ca.td.Name() + "/ns/team-a/sa/weather"}
	}
	notBefore := o.notBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Minute)
	}
	return ca.ca.SVID(t, "", x509test.Options{URIs: uris, NotBefore: notBefore, NotAfter: o.notAfter, Key: o.key})
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newPlainCA is a CA certificate without any URI SAN.
func newPlainCA(t testing.TB) *x509.Certificate {
	t.Helper()
	return x509test.New(t, x509test.Options{CommonName: "plain CA", IsCA: true}).Cert
}
