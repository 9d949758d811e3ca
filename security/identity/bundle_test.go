package identity

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/trustsync/trustsync/internal/x509test"
)

// caCert makes a self-signed SPIFFE CA certificate for a trust domain.
func caCert(t *testing.T, td string) *x509.Certificate { return x509test.NewSPIFFECA(t, td).Cert }

func TestParseTrustBundle(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := caCert(t, "example.org")
	for _, tc := range []struct {
		name    string
		td      spiffeid.TrustDomain
		data    []byte
		wantErr string
	}{
		{name: "a bundle with one authority", td: td, data: x509test.SPIFFEBundleJSON(t, td.Name(), ca)},
		{name: "not JSON", td: td, data: []byte("-----BEGIN CERTIFICATE-----"), wantErr: "unable to parse JWKS"},
		{name: "no X.509 authority", td: td, data: []byte(`{"keys":[]}`), wantErr: "no X.509 authorities"},
		{name: "no trust domain", data: x509test.SPIFFEBundleJSON(t, td.Name(), ca), wantErr: "no trust domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseTrustBundle(tc.td, tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !b.HasX509Authority(ca) || b.TrustDomain() != td {
				t.Fatalf("bundle of %s lacks the CA", b.TrustDomain())
			}
		})
	}
}
